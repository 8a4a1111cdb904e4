"""Adversarial robustness: PGD attacks under L1/L2/L∞, fooling images, feature adversaries, adversarial and
random-perturbation training, accuracy-vs-ε evaluation and the study's SNR helper.

Modules (each imports torch itself; importing this package does not):
    attacks   — one PGD for every norm on any `forward: Tensor → Tensor` with a valid input range.
    training  — training loops with adversarial or random perturbations, safetensors checkpoints and resume.
    data      — image-folder and audio-folder datasets for `metazoo train` and `metazoo robustness`.
    evaluate  — accuracy vs ε with SEM over random subsets (seed "Adversarial evaluation").
    snr       — SNR_dB = 20·log10(‖x‖/‖ξ‖) for perturbation sizes (seed).
"""
