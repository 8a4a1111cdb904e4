"""Offline replications of the study's key effects (issue 10): `metazoo replicate mini`.

Modules (each imports torch itself; importing this package does not):
    plan          — the sizes of the full and the CI-sized runs (images, stages, iterations, seeds).
    digits        — the offline dataset of Experiment B: scikit-learn's handwritten digits, upsampled.
    digitnet      — the small CNN of Experiment B as a `StagedModel` (spec, stage taps, fake-ReLU stages).
    bootstrap     — bootstrap confidence intervals over items.
    experiment_a  — real ImageNet networks (EfficientNet-Lite0/1/2): metamers at four stages, cross-recognition.
    experiment_b  — standard / adversarial / random-perturbation CNNs: metamers, cross-recognition, SI Table 2.
    run           — both experiments end to end, results JSON, figures and the results summary.
"""
