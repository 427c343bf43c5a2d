"""Reference values for the Parzen estimator tests in src/tpe/parzen.rs.

Run with Optuna installed (the values in the tests come from Optuna 5.0.0):
    python3 tests/optuna_reference.py
"""
import numpy as np
from optuna.distributions import CategoricalDistribution as C, FloatDistribution as F, IntDistribution as I
from optuna.samplers._tpe.parzen_estimator import _ParzenEstimator, _ParzenEstimatorParameters
from optuna.samplers._tpe.sampler import default_weights

def run(name, space, obs, points, prior_weight=1.0, endpoints=False, clip=True):
    p = _ParzenEstimatorParameters(prior_weight, clip, endpoints, default_weights, True)
    pe = _ParzenEstimator({k: np.asarray(v, dtype=float) for k, v in obs.items()}, space, p)
    pts = {k: np.asarray(v, dtype=float) for k, v in points.items()}
    print(name, [repr(float(x)) for x in pe.log_pdf(pts)])

run("float", {"x": F(0, 10)}, {"x": [1.0, 2.5, 7.0, 7.2]}, {"x": [0.0, 3.3, 7.1, 10.0]})
run("float_endpoints_pw2", {"x": F(0, 10)}, {"x": [1.0, 2.5, 7.0, 7.2]}, {"x": [0.0, 3.3, 7.1, 10.0]}, prior_weight=2.0, endpoints=True)
run("float_noclip", {"x": F(0, 10)}, {"x": [5.0, 5.01]}, {"x": [5.0, 9.0]}, clip=False)
run("float_one", {"x": F(0, 10)}, {"x": [2.0]}, {"x": [2.0, 9.0]})
run("int", {"n": I(0, 20)}, {"n": [3, 4, 15]}, {"n": [0, 4, 10, 20]})
run("int_step", {"n": I(0, 20, step=4)}, {"n": [4, 4, 16]}, {"n": [0, 4, 12, 20]})
run("float_step", {"x": F(0, 1, step=0.25)}, {"x": [0.25, 1.0]}, {"x": [0.0, 0.25, 0.75]})
run("float_log", {"x": F(1e-3, 10, log=True)}, {"x": [0.01, 0.5, 2.0]}, {"x": [0.001, 0.1, 5.0]})
run("int_log", {"n": I(1, 1000, log=True)}, {"n": [2, 30, 500]}, {"n": [1, 30, 999]})
rng = np.random.RandomState(0)
c = rng.randint(0, 4, size=30).tolist(); f = np.round(rng.uniform(-1, 1, size=30), 3).tolist()
# Numeric values without ties: Optuna assigns bandwidths to tied observations in numpy's argsort
# order, which is not stable (and platform dependent); promptsmith keeps trial order.
k = (2 * rng.choice(51, size=30, replace=False)).tolist()
assert len(set(f)) == 30
print("joint_obs_c", c); print("joint_obs_f", f); print("joint_obs_k", k)
run("joint", {"c": C([0,1,2,3]), "f": F(-1, 1), "k": I(0, 100, step=2)}, {"c": c, "f": f, "k": k},
    {"c": [0, 1, 3], "f": [-0.5, 0.0, 0.99], "k": [0, 4, 100]})
run("empty", {"c": C([0,1,2]), "f": F(-1, 1)}, {"c": [], "f": []}, {"c": [0, 2], "f": [0.0, 0.9]})
