from functools import wraps

from django.contrib.auth.views import redirect_to_login

from parloir import access


def staff_required(capability: str = access.Can.VIEW):
    """Signed-in staff holding ``capability`` somewhere; views then scope with access.scope()."""

    def decorator(view):
        @wraps(view)
        def wrapped(request, *args, **kwargs):
            if not request.user.is_authenticated:
                return redirect_to_login(request.get_full_path())
            if not access.has_any(request.user, capability):
                raise access.Forbidden(capability)
            return view(request, *args, **kwargs)

        return wrapped

    return decorator
