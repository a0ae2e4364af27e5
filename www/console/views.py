from django.core.paginator import Paginator
from django.shortcuts import render

from calls.actions import typed_entry_closed_since
from notify import redact
from notify.models import Message
from parloir import access
from www.console.decorators import staff_required


@staff_required()
def index(request):
    return render(
        request,
        "console/index.html",
        {
            "establishments": access.establishments(request.user),
            # Codes typed without the link are refused for now: families on a landline
            # cannot join, and someone is guessing (docs/calls.md).
            "code_guessing_since": typed_entry_closed_since(),
        },
    )


@staff_required(access.Can.READ_MESSAGES)
def outbox(request):
    messages = access.scope(
        Message.objects.select_related("establishment", "contact"),
        request.user,
        access.Can.READ_MESSAGES,
    )
    page = Paginator(messages, 50).get_page(request.GET.get("page"))
    for message in page:
        # Never a call code nor a call link: whoever reads them could join the call.
        message.shown_text = redact.shown_text(message)
    return render(request, "console/outbox.html", {"page": page})
