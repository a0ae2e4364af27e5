"""The 400 page: says what was wrong when our own code named it (parloir.params)."""

from django.shortcuts import render

from parloir.params import BadParameter


def bad_request(request, exception=None):
    message = str(exception) if isinstance(exception, BadParameter) else ""
    return render(request, "400.html", {"message": message}, status=400)
