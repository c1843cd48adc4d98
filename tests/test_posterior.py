"""The posterior's JAX log-density against jointfit's objective (an independent numpy implementation),
the RAR against its published check value, and NUTS recovering known parameters of a synthetic sample."""

from __future__ import annotations

import math

import numpy as np
import pytest

from cmsi_lib import jointfit, rar, sparc
from cmsi_lib.curves import signed_square
from cmsi_lib.errors import InputError
from cmsi_lib.params import Params

P = pytest.importorskip("cmsi_lib.posterior")
import jax.numpy as jnp  # noqa: E402  (after cmsi_lib.posterior, which sets the XLA flags)


@pytest.fixture(scope="module")
def blocks():
    """12 galaxies of the standard sample (bulges, D and Inc free), as jointfit builds them."""
    sample, _ = sparc.apply_cuts(sparc.load_galaxies(), sparc.QualityCuts())
    names = [n for n in sample if np.any(sample[n][0].v_bul != 0)][:4] + list(sample)[:8]
    return jointfit.sparc_blocks({n: sample[n] for n in dict.fromkeys(names)})


def _values(prob, data, x) -> dict:
    """jointfit's x as the posterior's sites: the globals, and the standardised nuisance z."""
    g, nu = prob.globals_at(x), prob.nuisance_at(x)
    out = {"log10_A": g["log10_A"], "gamma_alpha": g["gamma_alpha"], "log10_ell0": math.log10(g["ell0"]),
           "eps": g["eps"]}  # fmt: skip
    for site, p in zip(P._NUISANCE_SITES, jointfit.NUISANCE_NAMES, strict=True):
        i = np.asarray(data.free[p])
        if p in ("ups_disk", "ups_bul"):
            med, dex = (0.5, 0.1) if p == "ups_disk" else (0.7, 0.1)  # Li et al. 2018
            z = (np.log10(nu[p][i]) - math.log10(med)) / dex
        else:
            c, w = (data.D0, data.e_D) if p == "D" else (data.inc0, data.e_inc)
            z = (nu[p][i] - np.asarray(c)[i]) / np.asarray(w)[i]
        out[site] = jnp.asarray(z)
    return out


@pytest.mark.slow
def test_minus_two_log_posterior_is_jointfit_objective_plus_constant(blocks):
    """-2 (ln p - C) = chi2 + chi2_prior of jointfit at the seed's parameters and at random points."""
    data, prob = P.sparc_data(blocks), jointfit.JointProblem(blocks)
    assert data.n_points == prob.n_data and data.n_nuisance == len(prob.names) - prob.n_global
    C = P.objective_constant(data)
    rng = np.random.default_rng(7)
    starts = [Params(), Params(chi0=8e5, eps=0.2, alpha=0.3, ell0=30.0), Params(chi0=3e7, eps=0.0, alpha=0.0)]
    for k, p in enumerate([*starts, starts[0], starts[1]]):
        x = prob.start(p)
        if k >= len(starts):  # nuisance away from the priors' centres
            ng = prob.n_global
            w = np.select([prob.prior_kind == 0, prob.prior_kind == 1], [0.1, 0.05], 3.0)
            x[ng:] += rng.normal(0.0, 1.0, x.size - ng) * w
        objective = float(np.sum(prob.residuals(x) ** 2))
        lp = P.log_joint(P.cmsi_model, data, _values(prob, data, x), priors=P.CMSI_PRIORS)
        assert -2.0 * (lp - C) == pytest.approx(objective, rel=1e-9), (k, p)


@pytest.mark.slow  # JAX's first calls compile (seconds; far more on a loaded machine)
def test_the_constant_by_hand_for_one_point():
    """One point, no nuisance parameter, F = 1 (A tiny): ln p = -r^2/2 - ln(sqrt(2 pi) e) - sum ln(width)."""
    b = jointfit.curve_block("one", [2.0], [110.0], [4.0], [100.0], [50.0], [10.0])
    data = P.sparc_data([b])
    vals = {"log10_A": -14.0, "gamma_alpha": 0.0, "log10_ell0": 0.0, "eps": 0.0}
    lp = P.log_joint(P.cmsi_model, data, vals, priors=P.CMSI_PRIORS)
    widths = 30.0 * 6.0 * 16.0 * 5.0
    assert lp == pytest.approx(-0.5 * (10.0 / 4.0) ** 2 - math.log(math.sqrt(2 * math.pi) * 4.0) - math.log(widths))


@pytest.mark.slow  # JAX's first calls compile (seconds; far more on a loaded machine)
def test_rar_speed_matches_rar_module_and_published_check(blocks):
    """The JAX RAR equals cmsi_lib.rar at SPARC's nuisance values; at g_bar = g_dagger, g_obs = 1.582 g_dagger."""
    data = P.sparc_data(blocks)
    pairs = zip(P._NUISANCE_SITES, jointfit.NUISANCE_NAMES, strict=True)
    nu = P.nuisance_values(data, {s: jnp.zeros(int(data.free[p].size)) for s, p in pairs})
    v, k = P.rar_speed(data, math.log10(1.2e-10), nu)
    vb2 = np.asarray(data.g2 + 0.5 * data.d2 + 0.7 * data.b2)
    expect = rar.rar_speed(np.asarray(data.R), np.sign(vb2) * np.sqrt(np.abs(vb2)), 1.2e-10)
    np.testing.assert_allclose(np.asarray(v), expect, rtol=1e-12)
    np.testing.assert_allclose(np.asarray(k), 1.0)
    R = 3.0  # a point with g_bar = g_dagger: v_bar^2 = g_dagger R
    gd = 1.2e-10 * 3.0856775814913673e19 / 1e6  # (km/s)^2/kpc: 1 kpc = 3.0857e19 m, 1 (km/s)^2 = 1e6 m^2/s^2
    one = jointfit.curve_block("x", [R], [1.0], [1.0], [math.sqrt(gd * R)], [1.0], [10.0])
    d1 = P.sparc_data([one])
    v1, _ = P.rar_speed(d1, math.log10(1.2e-10), P.nuisance_values(d1, {s: jnp.zeros(0) for s in P._NUISANCE_SITES}))
    assert float(v1[0]) ** 2 / R / gd == pytest.approx(1.582, abs=5e-4)


def test_bad_options_name_the_parameter():
    with pytest.raises(InputError, match="chains"):
        P.PosteriorOptions(chains=0)
    with pytest.raises(InputError, match="eps"):
        P.PosteriorOptions(priors=(("log10_A", -5, 5), ("gamma_alpha", 0, 3), ("log10_ell0", -1, 4), ("eps", -1, 2)))
    with pytest.raises(InputError, match="target_accept"):
        P.PosteriorOptions(target_accept=1.5)


@pytest.mark.slow  # JAX's first calls compile (seconds; far more on a loaded machine)
def test_summary_edge_fractions_and_rhat_of_disagreeing_chains():
    """Hand-made chains: two that sit apart (R-hat >> 1) and a parameter piled on its low edge."""
    rng = np.random.default_rng(0)
    a = np.stack([rng.normal(0, 1, 500), rng.normal(10, 1, 500)])
    b = np.abs(rng.normal(0, 0.001, (2, 500)))  # within 1 % of the width of [0, 1] from 0
    run = {"samples": {"a": a, "b": b}, "diverging": np.zeros((2, 500), bool), "num_steps": np.full((2, 500), 7),
           "seconds": 1.0, "chain_method": "sequential"}  # fmt: skip
    s = P.summary(run, {"a": (-20.0, 20.0), "b": (0.0, 1.0)})
    assert s["params"]["a"]["r_hat"] > 1.5 and s["params"]["b"]["frac_at_low_edge"] == 1.0
    assert s["params"]["a"]["chain_medians"][1] == pytest.approx(10, abs=0.2) and s["n_samples"] == 1000


def _synthetic(truth: dict, n_gal: int = 5, seed: int = 3) -> list:
    """Fake galaxies: exponential-disk-like v_bar, Sigma, sigma_v = 10 km/s, errors 3 km/s, nuisance drawn
    from their priors (Ups_disk; D; Inc), speeds from CMSI at ``truth`` with Gaussian noise."""
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n_gal):
        R = np.linspace(0.5, 6.0 + 4 * i, 20)
        vd = (60.0 + 30 * i) * np.sqrt(R / 2.0) * np.exp(-R / 8.0)
        vg = 20.0 + 2.0 * R
        Sd = 400.0 * np.exp(-R / (1.5 + i))  # at Ups = 1 [Msun/pc^2]
        D0, e_D, inc0, e_inc = 10.0 + 3 * i, 1.0, 60.0, 4.0
        ud = 10 ** (math.log10(0.5) + 0.1 * rng.normal())
        D, inc = D0 + e_D * rng.normal(), inc0 + e_inc * rng.normal()
        s, kk = D / D0, math.sin(math.radians(inc0)) / math.sin(math.radians(inc))
        vb2 = s * (vg**2 + ud * vd**2)
        lnx = np.log(R * s) - truth["log10_ell0"] * math.log(10)
        f = np.exp(-np.logaddexp(0, 2 * lnx) / 2)
        boost = 10 ** truth["log10_A"] * vb2 / P.C_KMS**2 * (ud * Sd) ** truth["eps"]
        boost *= (np.sqrt(vb2) / 10.0) ** truth["gamma_alpha"] * f
        v_obs = np.sqrt((1 + boost) * vb2) / kk + rng.normal(0, 3.0, R.size)
        z = np.zeros_like(R)
        out.append(jointfit.Block(f"fake{i}", R, v_obs, np.full(R.size, 3.0), signed_square(vg), vd**2, z, z, Sd, z,
                                  np.full(R.size, 10.0), D0, e_D, inc0, e_inc, ("ups_disk", "D", "inc")))  # fmt: skip
    return out


@pytest.mark.slow
def test_nuts_recovers_known_parameters_of_five_fake_galaxies():
    truth = {"log10_A": 4.0, "gamma_alpha": 1.0, "log10_ell0": math.log10(5.0), "eps": 0.5}
    data = P.sparc_data(_synthetic(truth))
    priors = {"log10_A": (-2.0, 10.0), "gamma_alpha": (0.0, 3.0), "log10_ell0": (-1.0, 3.0), "eps": (0.0, 2.0)}
    opts = P.PosteriorOptions(chains=2, warmup=300, samples=300, priors=tuple((k, *v) for k, v in priors.items()))
    run = P.run_nuts(P.cmsi_model, data, opts, priors=priors)
    s = P.summary(run, priors)
    for k, v in truth.items():
        x = run["samples"][k].ravel()
        lo, hi = np.percentile(x, [0.5, 99.5])
        assert lo <= v <= hi, (k, v, lo, hi)
        assert s["params"][k]["r_hat"] < 1.05, (k, s["params"][k])
    assert s["n_divergent"] <= 0.01 * s["n_samples"]


@pytest.mark.slow
def test_nuisance_z_of_a_joint_map_are_its_standardised_values(blocks):
    """``nuisance_z`` of a joint MAP equals the standardised nuisance computed by hand from its physical
    values (log10 Ups in 0.1 dex, D and Inc in their prior widths), site by site."""
    data = P.sparc_data(blocks)
    fit = jointfit.joint_map(blocks, model="newton", laplace=False)
    prob = jointfit.JointProblem(blocks, free=(), model="newton")
    z, hand = P.nuisance_z(data, fit, blocks), _values(prob, data, fit.x)
    for site in P._NUISANCE_SITES:
        assert np.asarray(z[site]).shape == np.asarray(hand[site]).shape
        np.testing.assert_allclose(np.asarray(z[site]), np.asarray(hand[site]), rtol=1e-10, atol=1e-10)


def test_laplace_inverse_mass_of_a_gaussian_is_its_covariance():
    """For a correlated Gaussian the Laplace inverse mass is its covariance exactly; a decoupled site
    gets unit variance and no correlation; a bounded site enters in its unconstrained (logit) coordinate."""
    import numpyro
    import numpyro.distributions as dist

    cov = np.array([[2.0, 0.9], [0.9, 1.0]])

    def toy(_data):
        numpyro.sample("a", dist.MultivariateNormal(jnp.zeros(2), jnp.asarray(cov)))
        numpyro.sample("b", dist.Normal(0.0, 3.0))

    m = P.laplace_inverse_mass(toy, None, {"a": jnp.array([0.3, -0.2]), "b": 1.0}, decoupled=())
    np.testing.assert_allclose(m, np.block([[cov, np.zeros((2, 1))], [np.zeros((1, 2)), 9.0]]), rtol=1e-8, atol=1e-10)
    m = P.laplace_inverse_mass(toy, None, {"a": jnp.zeros(2), "b": 0.0}, decoupled=("a",))
    np.testing.assert_allclose(m, np.diag([1.0, 1.0, 9.0]), rtol=1e-8, atol=1e-10)

    def box(_data):  # uniform on (0, 1): -ln p in u = logit x is -ln(x (1 - x)), curvature 2 x (1 - x)
        numpyro.sample("x", dist.Uniform(0.0, 1.0))

    m = P.laplace_inverse_mass(box, None, {"x": 0.25})
    np.testing.assert_allclose(m, [[1.0 / (2 * 0.25 * 0.75)]], rtol=1e-8)


@pytest.mark.slow
def test_unconstrained_coordinates_are_numpyros_initialisation():
    """``_unconstrained`` (traced once under jit) gives NumPyro's ``initialize_model`` with ``init_to_value``:
    the same unconstrained vector and potential energy (to rounding), with bounded and truncated sites; a
    value for a site the model lacks is ignored; a missing latent site is an error naming it."""
    import jax
    import numpyro
    import numpyro.distributions as dist
    from jax.flatten_util import ravel_pytree
    from numpyro.infer import init_to_value
    from numpyro.infer.util import initialize_model

    def toy(_data, scale=2.0):
        numpyro.sample("a", dist.Normal(jnp.zeros(3), scale).to_event(1))
        numpyro.sample("b", dist.Uniform(-1.0, 4.0))
        numpyro.sample("c", dist.TruncatedNormal(jnp.zeros(2), 1.0, low=-0.5).to_event(1))

    values = {"a": jnp.array([0.3, -1.2, 2.0]), "b": 3.1, "c": jnp.array([-0.4, 1.7])}
    flat, unravel, potential = P._unconstrained(toy, None, values | {"z_absent": 1.0}, {"scale": 1.5})
    info = initialize_model(jax.random.PRNGKey(0), toy, model_args=(None,), model_kwargs={"scale": 1.5},
                            init_strategy=init_to_value(values=values))  # fmt: skip
    ref, _ = ravel_pytree(info.param_info.z)
    np.testing.assert_allclose(np.asarray(flat), np.asarray(ref), rtol=1e-14, atol=1e-14)
    assert float(potential(flat)) == pytest.approx(float(info.potential_fn(info.param_info.z)), rel=1e-13)
    assert float(flat[3]) == pytest.approx(math.log((3.1 + 1.0) / (4.0 - 3.1)), rel=1e-13)  # b: logit on (-1, 4)
    with pytest.raises(InputError, match="'c'"):
        P._unconstrained(toy, None, {"a": values["a"], "b": 0.0}, {})


def test_map_values_finds_the_mode_of_a_known_density():
    """L-BFGS on the unconstrained coordinates reaches the mode of a correlated Gaussian (its mean) and,
    for a truncated variable, the mode inside the bound; returned in constrained space."""
    import numpyro
    import numpyro.distributions as dist

    mu, cov = jnp.array([1.5, -0.7]), jnp.array([[2.0, 0.9], [0.9, 1.0]])

    def toy(_data):
        numpyro.sample("a", dist.MultivariateNormal(mu, cov))
        x = numpyro.sample("x", dist.Uniform(0.0, 10.0))
        numpyro.factor("pull", -0.5 * ((x - 3.0) / 0.5) ** 2)  # with the logit Jacobian, the mode moves

    v = P.map_values(toy, None, {"a": jnp.zeros(2), "x": 5.0})
    np.testing.assert_allclose(np.asarray(v["a"]), np.asarray(mu), atol=1e-5)
    # in u = logit(x/10): -ln p = (x-3)^2/(2 0.25) - ln(x (10 - x)) + const; its stationary point by hand
    from scipy.optimize import brentq

    x_hand = brentq(lambda x: (x - 3.0) / 0.25 - 1.0 / x + 1.0 / (10.0 - x), 0.1, 9.9)
    assert float(v["x"]) == pytest.approx(x_hand, abs=1e-4)


# --------------------------------------------------------------------------- the stage read without JAX
def test_stage_key_versions_are_the_installed_jax_and_numpyro():
    """The stage key's versions, read from package metadata, are those the imported packages report."""
    import jax
    import numpyro

    from cmsi_lib import posterior_stage
    from cmsi_lib.options import SparcOptions

    v = posterior_stage.stage_inputs(posterior_stage.PosteriorOptions(), SparcOptions())["versions"]
    assert v == {"jax": jax.__version__, "numpyro": numpyro.__version__}


def test_the_command_line_reads_the_posterior_without_importing_jax():
    """`cmsi survey` reads the posterior stage (posterior_stage) without JAX, which costs seconds to import
    on every `cmsi` command; the survey stage's key covers neither module."""
    import subprocess
    import sys

    from cmsi_lib import stages
    from cmsi_lib.cli import survey as survey_cli

    code = "import sys, cmsi_lib.cli, cmsi_lib.cli.survey; print(sorted({'jax', 'numpyro'} & set(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
    assert not {"cmsi_lib.posterior", "cmsi_lib.posterior_stage"} & set(stages.module_files(survey_cli.MODULES))


def test_convergence_criterion_of_vehtari_et_al():
    """R-hat below 1.01 and bulk ESS above 400 (Vehtari et al. 2021), over every coordinate or the globals."""
    from cmsi_lib import posterior_stage as S

    def run(r_hat, ess, g_r_hat=1.0, g_ess=1000.0):
        glob = {"a": {"r_hat": g_r_hat, "ess_bulk": g_ess}, "b": {"r_hat": 1.0, "ess_bulk": 5000.0}}
        return {"all_parameters": {"r_hat_max": r_hat, "ess_bulk_min": ess}, "params": glob}

    assert S.converged(run(1.009, 401)) and not S.converged(run(1.011, 401)) and not S.converged(run(1.0, 399))
    assert S.globals_converged(run(2.0, 10)) and not S.globals_converged(run(1.0, 1e4, g_r_hat=1.02))
    assert not S.globals_converged(run(1.0, 1e4, g_ess=300.0))


@pytest.mark.book  # the posterior stage is computed by `make book`
def test_survey_json_has_the_posterior_of_the_built_book(capsys):
    """After `make book`, `cmsi survey --json`'s joint_fit entry carries the cached posterior: each run's
    16/50/84 percentiles in order, on the joint fit's identical points, and the RAR's g_dagger within
    the published 1.20e-10 m/s^2 (Li et al. 2018) +- its systematic error."""
    from cmsi_lib import anchors
    from cmsi_lib.cli import main

    assert main(["survey", "--json"]) == 0
    doc = __import__("json").loads(capsys.readouterr().out)
    post = doc["joint_fit"]["posterior"]
    assert "note" not in post, post
    assert set(post["runs"]) == set(P.RUNS)
    assert (post["n_points"], post["n_galaxies"]) == (doc["joint_fit"]["galaxies"]["n_points"],
                                                      doc["joint_fit"]["galaxies"]["n_galaxies"])  # fmt: skip
    for run in post["runs"].values():
        for q in run["percentiles"].values():
            lo, mid, hi = q["p16_50_84"]
            assert lo <= mid <= hi
    g = post["runs"]["rar"]["derived"]["g_dagger_1e10"][1] * 1e-10
    ref = anchors.RAR_G_DAGGER_SI.value
    assert abs(g - ref) < anchors.RAR_G_DAGGER_SYSTEMATIC_SI.value + anchors.RAR_G_DAGGER_SI.tol
