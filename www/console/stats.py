"""Statistics for the administration: an establishment's use, or several establishments'
together (all of them for a national role), per day, week or month, as charts and CSV.

The figures come from ops.models.DailyStats (kept by the statistics worker), scoped by
parloir.access like every console page: a director sees their establishment, a national
administrator every one and the whole country.
"""

from __future__ import annotations

import csv
from datetime import timedelta

from django.http import HttpResponse
from django.shortcuts import render
from django.utils import formats, timezone
from django.utils.translation import gettext as _

from establishments.models import Establishment
from ops import charts, stats
from ops.models import HOURS
from parloir import access
from parloir.params import BadParameter, a_date, an_id
from www.console.decorators import staff_required

Can = access.Can

COLOURS = {
    "held": "#2e7d32",
    "refused": "#ef6c00",
    "failed": "#c62828",
    "no_answer": "#78909c",
    "no_show": "#6a1b9a",
    "interrupted": "#4e342e",
    "lost": "#c62828",
    "given_back": "#1565c0",
    "sms": "#1565c0",
    "voice": "#ef6c00",
    "occupancy": "#00695c",
}


def _columns() -> list[tuple[str, str]]:
    """(attribute of stats.Period, heading), in the table's and the CSV's order."""
    return [
        ("booked", _("Appels réservés")),
        ("held", _("Appels tenus")),
        ("refused", _("Refusés par le proche")),
        ("failed", _("En panne")),
        ("no_show", _("Absences")),
        ("no_answer", _("Sans réponse")),
        ("interrupted", _("Interrompus")),
        ("cancelled", _("Annulés")),
        ("held_minutes", _("Minutes tenues")),
        ("lost_minutes", _("Minutes perdues")),
        ("given_back_minutes", _("Minutes rendues")),
        ("sms_total", _("SMS envoyés")),
        ("sms_rate", _("SMS remis (%)")),
        ("voice_total", _("Appels vocaux envoyés")),
        ("voice_rate", _("Appels vocaux remis (%)")),
    ]


def _query(request) -> tuple[stats.Query, Establishment | None]:
    user = request.user
    step = request.GET.get("pas") or "day"
    if step not in stats.STEPS:
        raise BadParameter(f"pas: one of {', '.join(stats.STEPS)}")
    today = timezone.localdate()
    last = a_date(request.GET.get("au"), "au") or today
    first = a_date(request.GET.get("du"), "du") or last - timedelta(
        days=stats.DEFAULT_DAYS[step] - 1
    )
    if first > last or last - first > stats.LONGEST:
        raise BadParameter("du, au: at most three years, the first before the last")
    establishment = None
    ids = access.establishment_ids(user, Can.READ_STATISTICS)
    if chosen := an_id(request.GET.get("etablissement")):
        access.require(user, Can.READ_STATISTICS, chosen)
        establishment = Establishment.objects.filter(pk=chosen).first()
        if establishment is None:
            raise BadParameter("etablissement: no such establishment")
        ids = {chosen}
    return stats.Query(ids, step, first, last), establishment


def _label(start, step: str) -> str:
    if step == "month":
        return formats.date_format(start, "M Y")
    return formats.date_format(start, "d/m")


def _charts(report: stats.Report, labels: list[str]) -> list:
    periods = report.periods
    outcome = [
        ("held", _("Appels tenus")),
        ("refused", _("Refusés par le proche")),
        ("failed", _("En panne")),
        ("no_answer", _("Sans réponse")),
        ("no_show", _("Absences")),
        ("interrupted", _("Interrompus")),
    ]
    occupancy = report.occupancy()
    return [
        charts.bars(
            _("Appels par période"),
            labels,
            [
                charts.Series(name, [p.figures[key] for p in periods], COLOURS[key])
                for key, name in outcome
            ],
        ),
        charts.bars(
            _("Minutes perdues et rendues"),
            labels,
            [
                charts.Series(
                    _("Minutes rendues"),
                    [p.given_back_minutes for p in periods],
                    COLOURS["given_back"],
                ),
                charts.Series(
                    _("Minutes perdues"), [p.lost_minutes for p in periods], COLOURS["lost"]
                ),
            ],
        ),  # fmt: skip
        charts.lines(
            _("Messages remis, par canal"),
            labels,
            [
                charts.Series(_("SMS"), [p.sms_rate for p in periods], COLOURS["sms"]),
                charts.Series(
                    _("Appels vocaux"), [p.voice_rate for p in periods], COLOURS["voice"]
                ),
            ],
            unit=" %",
            top=100,
        ),
        charts.bars(
            _("Occupation des salles par heure"),
            [f"{h:02d}h" for h in HOURS],
            [charts.Series(_("Occupation"), occupancy, COLOURS["occupancy"])],
            unit=" %",
            top=max(10, charts.nice_max(max(occupancy))),
        ),
    ]


@staff_required(Can.READ_STATISTICS)
def statistics(request):
    query, establishment = _query(request)
    columns = _columns()
    choices = access.establishments(request.user, Can.READ_STATISTICS).order_by("name")
    several = establishment is None and len(choices) > 1
    context = {
        "query": query,
        "establishment": establishment,
        "national": access.is_national(request.user, Can.READ_STATISTICS),
        "choices": choices,
        "columns": columns,
        "several": several,
        "csv_query": request.GET.urlencode(),
        "period_query": _without(request.GET, "par"),
    }
    if several and _split(request):
        # One line per establishment, and nothing else: each page reads the rows once.
        context["per_establishment"] = [
            (name, _cells(p, columns)) for name, p in _per_establishment(query, choices)
        ]
        context["computed_at"] = stats.computed_at(query)
        return render(request, "console/statistics.html", context)
    report = stats.Report(query)
    labels = [_label(p.start, query.step) for p in report.periods]
    context.update(
        {
            "rows": [
                (label, _cells(p, columns)) for label, p in zip(labels, report.periods, strict=True)
            ],
            "total": _cells(report.total, columns),
            "computed_at": report.computed_at,
            "charts": _charts(report, labels),
        }
    )
    return render(request, "console/statistics.html", context)


def _without(params, name: str) -> str:
    kept = params.copy()
    kept.pop(name, None)
    return kept.urlencode()


def _split(request) -> bool:
    return request.GET.get("par") == "etablissement"


def _per_establishment(query, choices) -> list[tuple[str, stats.Period]]:
    names = dict(choices.values_list("pk", "name"))
    return [(names.get(pk, str(pk)), period) for pk, period in stats.by_establishment(query)]


def _cells(period: stats.Period, columns) -> list[str]:
    shown = []
    for key, _heading in columns:
        value = getattr(period, key)
        if value is None:
            shown.append("–")
        elif isinstance(value, float):
            shown.append(formats.number_format(value, 1))
        else:
            shown.append(formats.number_format(value, force_grouping=True))
    return shown


def _cell(value) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.1f}"
    return str(value)


@staff_required(Can.READ_STATISTICS)
def statistics_csv(request):
    query, establishment = _query(request)
    columns = _columns()
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    scope = establishment.code if establishment else "all"
    response["Content-Disposition"] = (
        f'attachment; filename="parloir-stats-{scope}-{query.step}-{query.first}-{query.last}.csv"'
    )
    # A byte order mark: spreadsheets then read the accents as UTF-8.
    response.write("\ufeff")
    writer = csv.writer(response)
    if establishment is None and _split(request):
        choices = access.establishments(request.user, Can.READ_STATISTICS)
        writer.writerow([_("Établissement"), *[heading for _key, heading in columns]])
        for name, period in _per_establishment(query, choices):
            writer.writerow([name, *[_cell(getattr(period, key)) for key, _h in columns]])
        return response
    writer.writerow([_("Période"), *[heading for _key, heading in columns]])
    for period in stats.Report(query).periods:
        writer.writerow(
            [period.start.isoformat(), *[_cell(getattr(period, key)) for key, _h in columns]]
        )
    return response
