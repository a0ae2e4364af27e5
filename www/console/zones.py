"""Console pages show an establishment's times in its own zone, the one its staff type
times in (the suspension form, closures), whatever the server's."""

from django.shortcuts import render
from django.utils import timezone


def render_in_zone(request, template, context, zone, status=200):
    with timezone.override(zone):
        return render(request, template, context, status=status)
