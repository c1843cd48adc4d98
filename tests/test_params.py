"""Params: defaults from the seed, validation, YAML and override loading, a stable hash."""

import math
import subprocess
import sys

import pytest

from cmsi_lib import ParameterError, Params
from cmsi_lib.cli import main


def test_defaults_are_the_seeds():
    # Values typed from ../shared/seed/CMSI-derivation.md ("Parameters and Their Physics").
    p = Params()
    assert (p.chi0, p.gamma, p.alpha, p.ell0, p.sigma_ref, p.eps, p.n) == (800, 1.5, 0.55, 2.2, 50, 0.5, 2)
    # the boxed formula's exponent 0.825 = gamma * alpha
    assert math.isclose(p.gamma * p.alpha, 0.825)


@pytest.mark.parametrize(
    "name, value, fragment",
    [
        ("chi0", -1.0, "chi0 >= 0"),
        ("ell0", 0.0, "ell0 > 0"),
        ("ell0", -2.0, "ell0 > 0"),
        ("n", 0.0, "n > 0"),
        ("sigma_ref", 0.0, "sigma_ref > 0"),
        ("alpha", float("nan"), "alpha >= 0"),
        ("gamma", float("inf"), "gamma >= 0"),
        ("eps", -0.1, "eps >= 0"),
        ("chi0", "lots", "not a number"),
    ],
)
def test_invalid_values_name_parameter_value_and_range(name, value, fragment):
    with pytest.raises(ParameterError) as exc:
        Params(**{name: value})
    msg = str(exc.value)
    assert name in msg and fragment in msg and str(value) in msg


def test_unknown_name_lists_the_valid_ones():
    with pytest.raises(ParameterError, match="unknown CMSI parameter 'chi1'.*chi0, gamma"):
        Params.from_overrides(["chi1=3"])


def test_overrides_and_yaml(tmp_path):
    f = tmp_path / "p.yaml"
    f.write_text("chi0: 1.0e6\nell0: 3\n")
    p = Params.from_sources(f, ["alpha=0.5"])
    assert (p.chi0, p.ell0, p.alpha, p.gamma) == (1e6, 3.0, 0.5, 1.5)
    with pytest.raises(ParameterError, match="not of the form name=value"):
        Params.from_overrides(["chi0"])


def test_yaml_errors_name_the_file(tmp_path):
    f = tmp_path / "bad.yaml"
    f.write_text("chi0: -5\n")
    with pytest.raises(ParameterError, match=r"bad\.yaml.*chi0 = -5"):
        Params.from_yaml(f)
    f.write_text("- 1\n- 2\n")
    with pytest.raises(ParameterError, match="must hold a mapping"):
        Params.from_yaml(f)
    with pytest.raises(ParameterError, match="does not exist"):
        Params.from_yaml(tmp_path / "missing.yaml")


def test_frozen():
    with pytest.raises(AttributeError):
        Params().chi0 = 1.0


def test_hash_depends_on_values_only_and_is_stable_across_processes():
    a, b = Params(chi0=1e6), Params.from_overrides(["chi0=1000000"])
    assert a.hash == b.hash and a.hash != Params().hash
    assert len(a.hash) == 12 and int(a.hash, 16) >= 0
    # a fresh interpreter with another hash seed gives the same name
    out = subprocess.run(
        [sys.executable, "-c", "from cmsi_lib import Params; print(Params(chi0=1e6).hash)"],
        capture_output=True,
        text=True,
        check=True,
        env={"PYTHONHASHSEED": "123", "PATH": ""},
    ).stdout.strip()
    assert out == a.hash


def test_yaml_key_given_twice_names_file_and_line(tmp_path):
    f = tmp_path / "twice.yaml"
    f.write_text("chi0: 1.0e6\nell0: 3.0\nchi0: 2.0e6\n")
    with pytest.raises(ParameterError, match=r"twice\.yaml, line 3: 'chi0' is given twice \(first on line 1\)"):
        Params.from_yaml(f)


@pytest.mark.parametrize("command", [["run", "--no-book"], ["survey"]])
@pytest.mark.parametrize("value", ["0", "-1", "two"])
def test_worker_count_must_be_one_or_more(command, value, capsys):
    with pytest.raises(SystemExit) as exc:
        main([*command, "--workers", value])
    assert exc.value.code == 2
    assert "--workers" in capsys.readouterr().err
