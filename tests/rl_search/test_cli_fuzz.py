"""The CLI on arbitrary arguments: an exit status and a message, never a traceback."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rl_search.cli import main

COMMANDS = [["workloads", "list"], ["workloads", "show"], ["hardware", "list"],
            ["hardware", "show"], ["estimate"], ["design", "init"], ["report"], ["explore"]]
FLAGS = ["--workload", "--target", "--design", "--fidelity", "--param", "--option", "--balance",
         "--json", "--strict", "--budget", "--seed", "--space", "--searcher", "--out", "--toml",
         "--searcher-option", "--latency-budget-ms", "--max-accuracy-drop", "--mode", "--split",
         "--weight-bits", "--act-bits", "--oracle", "--no-progress", "--resume", "--top"]
VALUES = st.one_of(
    st.sampled_from(["resnet20", "resnet18", "n3h-zcu102", "n3h-pynq-z2", "systolic-32x32",
                     "zcu102", "haq", "n3h", "rank", "genetic", "random", "cycle", "analytic",
                     "nan", "inf", "-1", "0", "1", "3", "1e30", "2-8", "8-2", "a=b", "=",
                     "tokens=16", "balance=fast", "none", "x:y", "os:getcwd", "missing.toml",
                     "/", "/dev/null", "penalty", "repair", "clamp", "choose"]),
    st.text(max_size=6))


@settings(max_examples=120, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.sampled_from(COMMANDS), st.lists(st.one_of(st.sampled_from(FLAGS), VALUES),
                                           max_size=6))
def test_any_arguments_give_a_status_and_no_traceback(tmp_path, monkeypatch, capsys, command,
                                                      rest):
    monkeypatch.chdir(tmp_path)
    argv = [*command, *rest]
    if command == ["explore"]:
        argv += ["--budget", "3", "--no-progress", "--out", str(tmp_path / "run")]
    try:
        code = main(argv)
    except SystemExit as exc:  # argparse's own usage errors
        code = exc.code if isinstance(exc.code, int) else 2
    out, err = capsys.readouterr()
    assert code in (0, 1, 2), (argv, code, err)
    assert "Traceback" not in err + out, (argv, err)
