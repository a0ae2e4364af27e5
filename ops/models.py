from django.db import models
from django.utils.translation import gettext_lazy as _


class DailyStats(models.Model):
    """One establishment's use on one local day, kept by the statistics worker
    (ops/rollup.py) from the bookings, calls and messages of that day.

    The statistics pages add these rows up: a year of 200 establishments is 73,000 rows,
    where the calls and messages behind them are millions. A day is counted again at
    every pass while it is recent (calls end and codes are delivered after the fact);
    older days are final. A row without establishment is the whole country's day (the
    sum of that day's rows), so that the national pages read 365 rows for a year. So
    parloir.access.scope alone would count a national role's days twice: ops.stats picks
    the country's rows or the establishments' (Query.rows, Query.establishment_rows).
    """

    ESTABLISHMENT_PATH = "establishment"

    establishment = models.ForeignKey(
        "establishments.Establishment",
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="+",
    )
    # The establishment's local date of the booked slots' start.
    day = models.DateField()
    booked = models.PositiveIntegerField(default=0)  # bookings not cancelled
    cancelled = models.PositiveIntegerField(default=0)
    held = models.PositiveIntegerField(default=0)  # calls whose conversation started
    refused = models.PositiveIntegerField(default=0)  # refused by the relative
    failed = models.PositiveIntegerField(default=0)  # ended on a technical failure
    no_show = models.PositiveIntegerField(default=0)  # the detainee did not come
    no_answer = models.PositiveIntegerField(default=0)  # the relative did not connect
    interrupted = models.PositiveIntegerField(default=0)
    held_seconds = models.PositiveBigIntegerField(default=0)
    lost_seconds = models.PositiveBigIntegerField(default=0)
    given_back_seconds = models.PositiveBigIntegerField(default=0)
    sms_total = models.PositiveIntegerField(default=0)
    sms_delivered = models.PositiveIntegerField(default=0)
    sms_failed = models.PositiveIntegerField(default=0)
    voice_total = models.PositiveIntegerField(default=0)
    voice_delivered = models.PositiveIntegerField(default=0)
    voice_failed = models.PositiveIntegerField(default=0)
    computed_at = models.DateTimeField()

    class Meta:
        verbose_name = _("statistiques du jour")
        constraints = [
            # Establishments' rows (NULLs are distinct here: the national rows are not).
            models.UniqueConstraint(fields=["establishment", "day"], name="daily_stats_unique"),
            models.UniqueConstraint(
                fields=["day"],
                condition=models.Q(establishment__isnull=True),
                name="daily_stats_national_unique",
            ),
        ]
        indexes = [models.Index(fields=["day"], name="daily_stats_day")]


# Seconds of calls in progress in each local hour of the day (00 to 23), summed over the
# establishment's rooms: columns, so that the database adds them up without reading JSON.
HOURS = range(24)
for _hour in HOURS:
    DailyStats.add_to_class(f"busy_{_hour:02d}", models.PositiveIntegerField(default=0))
del _hour


def hour_field(hour: int) -> str:
    return f"busy_{hour:02d}"
