"""A namespace of its own: the single-machine installation listens on its fixed ports
(8000, Janus's 8188 and 7188), which the other packages' servers use in theirs."""

from tests.media.fixtures import namespace_fixture

single_netns = namespace_fixture("parloir-s")
