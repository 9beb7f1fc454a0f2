"""The error family formats locations and hints; the CLI turns XbarError into exit code 2."""

from xbar.cli import main
from xbar.errors import Location, NetlistError, XbarError


def test_location_caret_and_hint():
    loc = Location("deck.cir", 3, 9, "R1 a b 1x2k")
    err = NetlistError(
        "malformed value '1x2k'", location=loc, hint="expected: R<name> <n+> <n-> <value>"
    )
    text = str(err)
    lines = text.splitlines()
    assert lines[0] == "deck.cir:3:9: error: malformed value '1x2k'"
    assert lines[1] == "    R1 a b 1x2k"
    assert lines[2].index("^") == 4 + 8
    assert lines[3].startswith("hint: expected: R<name>")


def test_plain_error_has_no_location():
    assert str(XbarError("boom")) == "error: boom"


def test_cli_without_command_exits_2(capsys):
    assert main([]) == 2


def test_cli_version(capsys):
    assert main(["--version"]) == 0
    assert "xbar" in capsys.readouterr().out


def test_usage_errors_return_2_not_raise(capsys):
    # a flag value that looks like an option, an unknown flag, a missing value: argparse's
    # usage message and exit code 2, returned by main() like every other rejected input
    assert main(["infer", "--g-min", "-x"]) == 2
    assert main(["infer", "--no-such-flag"]) == 2
    assert main(["solve", "--reltol"]) == 2
    assert "usage:" in capsys.readouterr().err
