"""Register, list, drain and undrain media nodes (docs/deployment.md, "Media nodes")."""

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser

from media.models import MediaNode
from media.placement import drain, undrain


class Command(BaseCommand):
    help = (
        "Register a media node, list them, or drain one (its calls go on, new ones go elsewhere)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        actions = parser.add_subparsers(dest="action", required=True)
        add = actions.add_parser(
            "add", help="Register a node (it starts down; the checker puts it up)."
        )
        add.add_argument("name")
        add.add_argument("--ws-url", required=True, help="wss://<address>:8989 for a media host")
        add.add_argument("--admin-ws-url", required=True, help="wss://<address>:7989")
        add.add_argument("--recording-dir", required=True, help="PARLOIR_JANUS_RECORDING_DIR there")
        add.add_argument("--capacity", type=int, default=20, help="rooms (calls) it may carry")
        add.add_argument(
            "--ships-recordings",
            action="store_true",
            help="a host of its own, whose agent ships the recordings to the shared store",
        )
        actions.add_parser("list", help="Every node: state, load, last error.")
        for name in ("drain", "undrain"):
            action = actions.add_parser(name)
            action.add_argument("name")

    def handle(self, *args, **options) -> None:
        action = options["action"]
        if action == "add":
            node = MediaNode(
                name=options["name"],
                ws_url=options["ws_url"],
                admin_ws_url=options["admin_ws_url"],
                recording_dir=options["recording_dir"],
                capacity=options["capacity"],
                ships_recordings=options["ships_recordings"],
            )
            try:
                node.full_clean()
            except ValidationError as exc:
                raise CommandError("; ".join(exc.messages)) from None
            node.save()
            self.stdout.write(f"{node.name}: registered ({node.get_state_display()})")
            return
        if action == "list":
            for node in MediaNode.objects.all():
                error = f" – {node.last_error}" if node.last_error else ""
                self.stdout.write(
                    f"{node.name}\t{node.state}\t{node.load}/{node.capacity}\t{node.ws_url}{error}"
                )
            return
        node = MediaNode.objects.filter(name=options["name"]).first()
        if node is None:
            raise CommandError(f"No media node named {options['name']!r}")
        (drain if action == "drain" else undrain)(node)
        self.stdout.write(f"{node.name}: {node.state}")
