"""The joint MAP (cmsi_lib.jointfit): identifiability of F's parameters (numerically and in SymPy), the
residuals against the per-galaxy models, the Jacobian's sparsity and the Hessian against dense finite
differences, the Newton joint MAP against independent per-galaxy fits, and recovery of CMSI parameters
injected into mock curves with SPARC's radii, errors and priors (and of no CMSI from a Newtonian mock)."""

import json
import math

import numpy as np
import pytest
import sympy as sp
from scipy import optimize

from cmsi_lib import Params, jointfit, kernel, models, sparc
from cmsi_lib.errors import InputError
from cmsi_lib.fitting import UPS_BUL_PRIOR, UPS_DISK_PRIOR
from cmsi_lib.models import Nuisance
from cmsi_lib.options import SparcOptions

THREE = ("NGC3198", "NGC7331", "DDO154")  # no bulge, a bulge, a dwarf
MOCK = ("NGC3198", "NGC2403", "NGC7331", "UGC02953")
#: chi^2 with 4 degrees of freedom exceeded with probability 1% (scipy.stats.chi2.isf(0.01, 4))
CHI2_4DOF_99 = 13.2767


def _sample(names):
    kept, _counts = sparc.apply_cuts(sparc.load_galaxies(), sparc.QualityCuts())
    return {n: kept[n] for n in names}


# --------------------------------------------------------------------------- identifiability
def test_identifiable_combinations_give_the_same_F():
    """Two parameter sets with equal chi0 Sigma_ref^-eps and gamma alpha give the same F everywhere;
    changing either combination changes F (the control)."""
    rng = np.random.default_rng(3)
    R, vc = rng.uniform(0.1, 40, 500), rng.uniform(5, 350, 500)
    sv, S = rng.uniform(3, 60, 500), 10 ** rng.uniform(-2, 3.5, 500)
    for _ in range(20):
        eps, ga = rng.uniform(0, 1.5), rng.uniform(0, 2)
        p1 = Params(chi0=10 ** rng.uniform(1, 7), sigma_ref=rng.uniform(5, 500), eps=eps, gamma=1.5, alpha=ga / 1.5,
                    ell0=rng.uniform(0.5, 10), n=rng.uniform(0.5, 4))  # fmt: skip
        s2, g2 = rng.uniform(5, 500), rng.uniform(0.2, 4)
        p2 = Params(chi0=p1.chi0 * (s2 / p1.sigma_ref) ** eps, sigma_ref=s2, eps=eps, gamma=g2, alpha=ga / g2,
                    ell0=p1.ell0, n=p1.n)  # fmt: skip
        b1, b2 = kernel.boost(R, vc, sv, S, p1), kernel.boost(R, vc, sv, S, p2)
        np.testing.assert_allclose(b2, b1, rtol=1e-12)
        other = Params(**{**p2.as_dict(), "chi0": 2 * p2.chi0})
        assert np.all(np.abs(kernel.boost(R, vc, sv, S, other) / b1 - 2) < 1e-12)
    # the library's own mapping: log10_A of the seed's defaults is log10(800 / sqrt(50)) by hand
    assert jointfit.identifiable(Params())["log10_A"] == pytest.approx(math.log10(800 / math.sqrt(50)), rel=1e-14)
    assert jointfit.identifiable(Params())["gamma_alpha"] == pytest.approx(0.825, rel=1e-14)


def test_identifiability_in_sympy():
    """F written from the seed's definitions depends on chi0, Sigma_ref only through chi0 Sigma_ref^-eps and
    on gamma, alpha only through gamma alpha: the gradient of ln(F - 1) in the 7 parameters has rank 5."""
    R, v, sv, S, c = sp.symbols("R v_c sigma_v Sigma c", positive=True)
    chi0, gamma, alpha, ell0, Sref, eps, n, A, g = sp.symbols(
        "chi0 gamma alpha ell0 Sigma_ref eps n A g", positive=True
    )
    boost = chi0 * (v / c) ** 2 * (S / Sref) ** eps * ((v / sv) ** gamma) ** alpha * (1 + (R / ell0) ** n) ** (-1 / n)
    reduced = sp.expand_power_base(
        sp.powsimp(boost.subs({chi0: A * Sref**eps, alpha: g / gamma}), force=True), force=True
    )
    for sym in (Sref, gamma):
        assert sp.simplify(sp.diff(reduced, sym)) == 0
    params = (chi0, gamma, alpha, ell0, Sref, eps, n)
    grad = sp.Matrix([[sp.diff(sp.expand_log(sp.log(boost), force=True), p) for p in params]])
    rng = np.random.default_rng(5)
    rows = []  # the gradient at 7 random points (fixed parameters): its rank is the number identifiable
    pvals = dict(zip(params, (800, 1.5, 0.55, 2.2, 50, 0.5, 2), strict=True))
    for _ in range(7):
        pt = {R: rng.uniform(0.5, 30), v: rng.uniform(20, 300), sv: rng.uniform(5, 50), S: rng.uniform(1, 500), c: 3e5}
        rows.append([float(e) for e in grad.subs({**pt, **pvals})])
    assert np.linalg.matrix_rank(np.array(rows), tol=1e-9) == 5


# --------------------------------------------------------------------------- residuals, pattern, Hessian
def test_residuals_equal_the_per_galaxy_model():
    """The stacked residuals at some nuisance values equal (V_obs - V_model)/e_V computed galaxy by galaxy
    through models.observables and CMSI.v_model; the prior pseudo-residuals equal the priors by hand."""
    sample = _sample(THREE)
    prob = jointfit.JointProblem(jointfit.sparc_blocks(sample))
    rng = np.random.default_rng(11)
    x = prob.start(Params(chi0=3e5, ell0=4.0)) + rng.normal(0, 0.05, len(prob.names))
    g = prob.globals_at(x)
    p = Params(chi0=10 ** g["log10_A"] * 50 ** g["eps"], sigma_ref=50, eps=g["eps"], gamma=1.5,
               alpha=g["gamma_alpha"] / 1.5, ell0=g["ell0"], n=g["n"])  # fmt: skip
    r, nu = prob.residuals(x), prob.nuisance_at(x)
    start = 0
    for i, (name, (gal, mask)) in enumerate(sample.items()):
        nz = Nuisance(nu["ups_disk"][i], nu["ups_bul"][i], nu["D"][i], nu["inc"][i])
        obs = models.observables(gal, nz)
        vm = models.CMSI(p, SparcOptions()).v_model(None, gal, nz, None)
        want = ((obs.v_obs - vm) / obs.e_v_obs)[mask]
        np.testing.assert_allclose(r[start : start + want.size], want, rtol=1e-10, atol=1e-10, err_msg=name)
        start += want.size
    by_hand = []
    for i, (_name, (gal, _m)) in enumerate(sample.items()):
        by_hand.append((math.log10(nu["ups_disk"][i]) - math.log10(UPS_DISK_PRIOR[0])) / UPS_DISK_PRIOR[1])
        if gal.has_bulge:
            by_hand.append((math.log10(nu["ups_bul"][i]) - math.log10(UPS_BUL_PRIOR[0])) / UPS_BUL_PRIOR[1])
        by_hand += [(nu["D"][i] - gal.D) / gal.e_D, (nu["inc"][i] - gal.inc) / gal.e_inc]
    np.testing.assert_allclose(r[start:], by_hand, rtol=1e-12)


def _dense_jacobian(fun, x, h=1e-6):
    cols = []
    for j in range(x.size):
        e = np.zeros_like(x)
        e[j] = h * max(1.0, abs(x[j]))
        cols.append((fun(x + e) - fun(x - e)) / (2 * e[j]))
    return np.array(cols).T


def test_sparsity_pattern_equals_the_dense_jacobians():
    """On 3 galaxies: every non-zero of a dense finite-difference Jacobian lies in the pattern, and block
    by block (a galaxy's rows x a column) the pattern is non-zero exactly where the dense Jacobian is."""
    prob = jointfit.JointProblem(jointfit.sparc_blocks(_sample(THREE)))
    x = prob.start(Params(chi0=3e5, ell0=4.0)) + 0.01
    dense = _dense_jacobian(prob.residuals, x)
    pat = prob.pattern.toarray() != 0
    assert not np.any((np.abs(dense) > 0) & ~pat)
    owner = np.concatenate([prob.gi, prob.owner])  # the galaxy of each row
    for b in range(len(prob.blocks)):
        rows = owner == b
        assert np.array_equal(pat[rows].any(axis=0), (np.abs(dense[rows]) > 0).any(axis=0))
    # the sparse central-difference Jacobian agrees with the dense one
    np.testing.assert_allclose(prob.jacobian(x).toarray(), dense, rtol=1e-6, atol=1e-6 * np.abs(dense).max())


def test_hessian_against_dense_second_differences():
    prob = jointfit.JointProblem(jointfit.sparc_blocks(_sample(THREE[:2])))
    x = prob.start(Params(chi0=3e5, ell0=4.0)) + 0.02

    def f(y):
        r = prob.residuals(y)
        return float(r @ r)

    _f, g, H = jointfit._hessian(prob, x)
    gd = _dense_jacobian(lambda y: np.array([f(y)]), x)[0]
    Hd = _dense_jacobian(lambda y: _dense_jacobian(lambda z: np.array([f(z)]), y, 1e-5)[0], x, 1e-4)
    np.testing.assert_allclose(g, gd, rtol=1e-6, atol=1e-6 * np.abs(gd).max())
    np.testing.assert_allclose(H, Hd, rtol=1e-3, atol=1e-4 * np.abs(Hd).max())


# --------------------------------------------------------------------------- the MAP
def test_newton_joint_map_equals_independent_per_galaxy_fits():
    """With F = 1 the joint problem separates: its MAP objective equals the sum of per-galaxy minima found
    with scipy from residuals written here (models.observables, the Newtonian speed, the priors)."""
    sample = _sample(THREE)
    fit = jointfit.joint_map(jointfit.sparc_blocks(sample), model="newton")
    total = 0.0
    for gal, mask in sample.values():
        bulge = gal.has_bulge

        def res(y, gal=gal, mask=mask, bulge=bulge):
            ud, ub = 10 ** y[0], (10 ** y[1] if bulge else UPS_BUL_PRIOR[0])
            D, inc = 10 ** y[-2], y[-1]
            obs = models.observables(gal, Nuisance(ud, ub, D, inc))
            vm = np.sign(obs.v_bar2) * np.sqrt(np.abs(obs.v_bar2))
            pri = [(y[0] - math.log10(UPS_DISK_PRIOR[0])) / UPS_DISK_PRIOR[1]]
            pri += [(y[1] - math.log10(UPS_BUL_PRIOR[0])) / UPS_BUL_PRIOR[1]] if bulge else []
            pri += [(D - gal.D) / gal.e_D, (inc - gal.inc) / gal.e_inc]
            return np.concatenate([((obs.v_obs - vm) / obs.e_v_obs)[mask], pri])

        y0 = [math.log10(0.5)] + ([math.log10(0.7)] if bulge else []) + [math.log10(gal.D), min(gal.inc, 89.0)]
        lo, hi = [-np.inf] * (len(y0) - 1) + [1.0], [np.inf] * (len(y0) - 1) + [90.0]
        sol = optimize.least_squares(res, y0, bounds=(lo, hi), xtol=1e-15, ftol=1e-15, gtol=1e-15, max_nfev=20000)
        total += 2 * sol.cost
    assert fit.success and fit.objective == pytest.approx(total, rel=1e-7)
    assert all(0 < v["inc"] <= 90 for v in fit.nuisance.values())


def _mock(names, truth: Params | None, seed: int):
    """SPARC galaxies' radii and errors; nuisance drawn from the priors; v_obs from CMSI at ``truth`` (or
    Newton when None) plus Gaussian noise of the stated errors."""
    rng = np.random.default_rng(seed)
    out = {}
    for name, (gal, mask) in _sample(names).items():
        ud = 10 ** rng.normal(math.log10(UPS_DISK_PRIOR[0]), UPS_DISK_PRIOR[1])
        ub = 10 ** rng.normal(math.log10(UPS_BUL_PRIOR[0]), UPS_BUL_PRIOR[1])
        nz = Nuisance(ud, ub, gal.D + gal.e_D * rng.normal(), min(gal.inc + gal.e_inc * rng.normal(), 90.0))
        model = models.get_model("newton") if truth is None else models.CMSI(truth, SparcOptions())
        v_true = model.v_model(None, gal, nz, None)
        k = math.sin(math.radians(gal.inc)) / math.sin(math.radians(nz.inc))
        v_obs = v_true / k + gal.e_v_obs * rng.standard_normal(gal.n_points)
        out[name] = (sparc.Galaxy(**{**gal.__dict__, "v_obs": v_obs}), mask)
    return out


def _truth() -> Params:
    """CMSI with F - 1 = 1 at the median of the outer half of the mock galaxies' points (the flat part)."""
    base = Params(chi0=1.0, ell0=5.0)
    per_chi0 = []
    for gal, mask in _sample(MOCK).values():
        b = models.cmsi_curve(gal, base).F - 1
        idx = np.flatnonzero(mask)
        per_chi0.append(b[idx[idx.size // 2 :]])
    return Params(chi0=1.0 / float(np.median(np.concatenate(per_chi0))), ell0=5.0)


@pytest.mark.slow  # ~1.5 min: 7 starting points on 4 galaxies
def test_recovery_of_injected_cmsi():
    """Mock curves from CMSI (F - 1 ~ 1 on the flat part): the best of the joint MAPs from the standard
    starting points (none at the truth) recovers the injected identifiable parameters within 3 Laplace
    sigmas, and leaves the noise (chi^2 ~ n_points)."""
    truth = _truth()
    fits = jointfit.multi_start(_mock(MOCK, truth, seed=2))
    fit = min(fits.values(), key=lambda f: f.objective)
    want = jointfit.identifiable(truth)
    assert fit.success and not [a for a in fit.at_bound if ":" not in a]
    for i, f in enumerate(fit.free):
        sigma = math.sqrt(fit.covariance[i, i])
        got = math.log10(fit.values[f]) if f == "ell0" else fit.values[f]
        ref = math.log10(want[f]) if f == "ell0" else want[f]
        assert abs(got - ref) < 3 * sigma, (f, got, ref, sigma)
    assert fit.chi2 < fit.n_points + 5 * math.sqrt(2 * fit.n_points)


def test_newtonian_mock_gives_no_significant_cmsi():
    """Mock curves from Newton: CMSI's four globals lower the objective by less than the 99% point of
    chi^2 with 4 degrees of freedom (the amplitude is consistent with zero), on identical points."""
    mock = _mock(MOCK, None, seed=4)
    newton = jointfit.joint_map(mock, model="newton")
    cmsi = jointfit.joint_map(mock, nuisance_starts=[newton])
    assert newton.n_points == cmsi.n_points and newton.success and cmsi.success
    assert -1e-3 < newton.objective - cmsi.objective < CHI2_4DOF_99


def _curve(noise: float = 0.0):
    """A fixed-baryon curve (the Milky Way's kind of block) from CMSI at known parameters."""
    R = np.linspace(4, 25, 30)
    vb = 200 * np.sqrt(R / (R + 3)) * np.exp(-R / 40)
    S, sv = 600 * np.exp(-R / 2.5), np.full(R.size, 20.0)
    truth = Params(chi0=5e5, ell0=8.0)
    v = kernel.circular_speed(R, vb, sv, S, truth) + noise * np.random.default_rng(8).standard_normal(R.size)
    return jointfit.curve_block("curve", R, v, np.full(R.size, 2.0), vb, S, sv), truth


def test_curve_block_recovers_amplitude():
    block, truth = _curve()
    fit = jointfit.joint_map([block], free=("log10_A",), start=Params(chi0=1e4, ell0=8.0), fixed=truth)
    assert block.free == () and fit.n_params == 1
    assert fit.values["log10_A"] == pytest.approx(jointfit.identifiable(truth)["log10_A"], abs=1e-6)
    assert fit.chi2 < 1e-8


# --------------------------------------------------------------------------- record and errors
def test_joint_fit_record_and_bad_input():
    block, truth = _curve(noise=2.0)
    newton = jointfit.joint_map([block], model="newton")
    fit = jointfit.joint_map([block], free=("log10_A", "ell0"), start=Params(chi0=1e4, ell0=3.0), fixed=truth)
    rec = jointfit.joint_fit_record(fit, newton)
    assert rec["percentiles"]["method"] == "laplace" and rec["percentiles"]["levels"] == [16, 50, 84]
    assert rec["n_points"] == block.n_points and rec["n_galaxies"] == 1 and rec["free"] == ["log10_A", "ell0"]
    lo, mid, hi = rec["percentiles"]["values"]["log10_A"]
    assert mid == rec["map"]["log10_A"] and lo < mid < hi
    # Laplace sigma of ell0 from the covariance of log10 ell0: the percentiles are symmetric in log10
    lo, mid, hi = rec["percentiles"]["values"]["ell0"]
    assert math.log10(hi / mid) == pytest.approx(math.log10(mid / lo), rel=1e-9)
    assert rec["newton"]["chi2"] == newton.chi2 and rec["chi2"] < newton.chi2
    json.dumps(rec, allow_nan=False)  # plain, strict JSON
    blocks = jointfit.sparc_blocks(_sample(THREE[:1]))
    other = jointfit.joint_map(blocks, model="newton")
    with pytest.raises(InputError, match="same galaxies"):
        jointfit.joint_fit_record(fit, other)
    with pytest.raises(InputError, match="free"):
        jointfit.JointProblem(blocks, free=("chi0",))
    with pytest.raises(InputError, match="no global"):
        jointfit.JointProblem(blocks, free=("log10_A",), model="newton")
    with pytest.raises(InputError, match="nuisance"):
        jointfit.sparc_blocks(_sample(THREE[:1]), nuisance="some")


# --------------------------------------------------------------------------- speed-ups that change no number
def test_restricted_problem_gives_each_blocks_values_bit_for_bit():
    """``JointProblem.restrict`` keeps the globals and the kept galaxies' nuisance columns: each kept
    galaxy's residuals and prior terms are the full problem's, exactly (galaxies are independent at fixed
    globals), whatever the nuisance values."""
    blocks = jointfit.sparc_blocks(_sample(THREE + ("UGC02953",)), SparcOptions(), "full")
    prob = jointfit.JointProblem(blocks)
    keep = np.array([False, True, False, True])
    sub, cols = prob.restrict(keep)
    assert [b.name for b in sub.blocks] == [blocks[1].name, blocks[3].name]
    assert [prob.names[c] for c in cols] == sub.names
    rng = np.random.default_rng(5)
    for _ in range(5):
        x = prob.start(Params(chi0=10 ** rng.uniform(4, 9), ell0=10 ** rng.uniform(-1, 3), eps=0.0))
        x[prob.n_global :] += rng.normal(0, 0.3, x.size - prob.n_global)
        r, rs = prob.residuals(x), sub.residuals(x[cols])
        kept_rows = np.concatenate([keep[prob.gi], keep[prob.owner]])
        assert np.array_equal(r[kept_rows], rs)


def test_nuisance_newton_on_the_moving_galaxies_alone_changes_no_number(monkeypatch):
    """Going on with the galaxies still moving alone (``SHRINK``) gives the nuisance solution of never
    doing so, bit for bit, at a CMSI point with a boost of order one."""
    blocks = jointfit.sparc_blocks(_sample(MOCK + THREE), SparcOptions(), "full")
    prob = jointfit.JointProblem(blocks)
    x0 = prob.start(Params(chi0=3e7, ell0=10.0, eps=0.0, alpha=0.5))
    calls = []
    restrict = jointfit.JointProblem.restrict
    monkeypatch.setattr(jointfit.JointProblem, "restrict", lambda self, keep: calls.append(1) or restrict(self, keep))
    x_shrink, _ = jointfit._nuisance_newton(prob, x0.copy(), 1e-10)
    assert calls  # the restriction was taken
    monkeypatch.setattr(jointfit, "SHRINK", 0.0)
    x_all, _ = jointfit._nuisance_newton(prob, x0.copy(), 1e-10)
    assert np.array_equal(x_shrink, x_all)
    assert not np.array_equal(x_all[prob.n_global :], x0[prob.n_global :])  # it moved


def test_unchecked_boost_equals_the_checked_one_and_the_check_still_names_the_input():
    """``kernel.boost_unchecked`` (the fits' path) gives ``kernel.boost``'s numbers exactly; ``boost``
    still refuses a NaN, naming the argument."""
    rng = np.random.default_rng(11)
    R, vc, S = 10 ** rng.uniform(-2, 2.5, 300), rng.uniform(0, 400, 300), rng.uniform(0, 2e3, 300)
    for p in (Params(), Params(chi0=1e7, eps=0.3, ell0=2.0, n=1.3), Params(ell0=1e9, eps=0.0, alpha=0.0)):
        assert np.array_equal(kernel.boost(R, vc, 10.0, S, p), kernel.boost_unchecked(R, vc, 10.0, S, p))
    with pytest.raises(InputError, match="Sigma"):
        kernel.boost(R, vc, 10.0, np.where(R > 1, np.nan, S), Params())


def test_joint_map_runs_on_one_blas_thread_and_restores_the_setting(monkeypatch):
    """The fit's dense algebra runs with ``BLAS_THREADS`` OpenBLAS threads (threadpoolctl), and the
    process's own setting is back afterwards."""
    from threadpoolctl import threadpool_info

    before = [i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"]
    seen = []
    solve = jointfit._solve

    def spy(*a, **k):
        seen.extend(i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas")
        return solve(*a, **k)

    monkeypatch.setattr(jointfit, "_solve", spy)
    jointfit.joint_map(jointfit.sparc_blocks(_sample(("DDO154",)), SparcOptions(), "full"), model="newton")
    assert seen and set(seen) == {jointfit.BLAS_THREADS}
    assert [i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"] == before


_FORK_CHECK = r"""
import json, os, sys, time
import numpy as np
from cmsi_lib import Params, jointfit, sparc
from cmsi_lib.options import SparcOptions

def pid_of(x):
    time.sleep(0.3)  # long enough that both workers take items
    return [x * x, os.getpid()]

assert "jax" not in sys.modules and jointfit.parallel_ok()
out = {"parent": os.getpid(), "squares": jointfit.map_in_processes(pid_of, list(range(6)), workers=2)}
kept, _ = sparc.apply_cuts(sparc.load_galaxies(), sparc.QualityCuts())
blocks = jointfit.sparc_blocks({n: kept[n] for n in ("NGC3198", "DDO154", "UGC02953")}, SparcOptions(), "full")
calls = [dict(start=Params(chi0=c), laplace=False) for c in (1e5, 1e7, 1e9)]
par = jointfit.joint_maps(blocks, calls, workers=2)
seq = [jointfit.joint_map(blocks, **kw) for kw in calls]
out["same"] = all(np.array_equal(a.x, b.x) and a.objective == b.objective for a, b in zip(par, seq))
print(json.dumps(out))
"""


def test_fits_in_forked_processes_equal_the_fits_in_sequence():
    """``map_in_processes`` keeps the order of its items and runs them in other processes (a fresh
    interpreter: JAX not imported, so forking is allowed); ``joint_maps`` on two workers gives each
    fit's numbers exactly as one after another."""
    import os
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-c", _FORK_CHECK], capture_output=True, text=True, timeout=600,
                          env=os.environ | {"OPENBLAS_NUM_THREADS": "1"})  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    out = json.loads(done.stdout.strip().splitlines()[-1])
    assert [s for s, _pid in out["squares"]] == [k * k for k in range(6)]
    pids = {pid for _s, pid in out["squares"]}
    assert out["parent"] not in pids and len(pids) == 2
    assert out["same"]


def test_no_fork_where_it_is_unsafe_and_workers_checked(monkeypatch):
    """With JAX imported (its threads make fork unsafe) or inside a daemonic process, the items run in
    this process, one after another; ``workers`` must be an integer >= 1."""
    import multiprocessing
    import os
    import sys

    monkeypatch.setitem(sys.modules, "jax", sys.modules.get("jax", object()))
    assert not jointfit.parallel_ok()
    assert jointfit.map_in_processes(abs, [], workers=2) == []
    assert set(jointfit.map_in_processes(lambda _x: os.getpid(), range(4), workers=2)) == {os.getpid()}
    monkeypatch.delitem(sys.modules, "jax")
    monkeypatch.setattr(multiprocessing.current_process(), "daemon", True, raising=False)
    assert not jointfit.parallel_ok()
    for bad in (0, -1, 1.5, True, "2"):
        with pytest.raises(InputError, match="workers"):
            jointfit.map_in_processes(abs, [1], workers=bad)


def test_a_repeated_nuisance_start_is_skipped_without_changing_the_solution():
    """``_pick_nuisance`` skips a start equal to x's nuisance or to an earlier start: the solution is that
    of the distinct starts, exactly, with fewer residual evaluations than solving the copies again."""
    blocks = jointfit.sparc_blocks(_sample(MOCK), SparcOptions(), "full")
    prob = jointfit.JointProblem(blocks)
    x = prob.start(Params(chi0=3e7, ell0=10.0, eps=0.0, alpha=0.5))
    other = x[prob.n_global :] + 0.05
    once, n_once = jointfit._pick_nuisance(prob, x.copy(), [other], 1e-10)
    again, n_again = jointfit._pick_nuisance(prob, x.copy(), [x[prob.n_global :], other, other.copy()], 1e-10)
    assert np.array_equal(once, again) and n_again == n_once


def test_profile_on_a_near_only_array_equals_its_elements_in_a_mixed_one():
    """``kernel._profile`` takes a shortcut when every x <= 1; each element is the one computed with the
    general (masked) path, bit for bit, and f(0) = 1."""
    x = np.r_[0.0, np.random.default_rng(3).uniform(0, 1, 999)]
    for n in (0.7, 2.0, 3.3):
        near = kernel._profile(x, n)
        assert np.array_equal(near, kernel._profile(np.r_[x, 5.0], n)[:-1])
        assert near[0] == 1.0
