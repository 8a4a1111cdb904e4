"""Synthesis beyond metamers on the same staged models: eigendistortions, MAD competition, principal distortions.

Each method is options (a frozen, validated dataclass) → one function → a result with `.save(folder)`,
`.read(folder)` and `.plot()`. All of them use the Fisher matrix F = JᵀJ of a stage's response (J its Jacobian with
respect to the input; white Gaussian response noise, Berardino et al. 2017) or the stage's response itself, on the
truncated network (`StagedModel`). Load models with `fake_relu=False`: a fake ReLU's identity backward would give
the Fisher matrix of a different Jacobian.
"""
