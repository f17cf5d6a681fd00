"""Facts about the study mcusim's reports compare with, that the command line's options need
without the reports' imports (rich, the simulator)."""

# The default clock for times. The study does not state its clock; its ResNet8 figures (3.11 MAC/clk
# and 17.1 ms per step) imply 37.06 M MACs / 3.11 MAC/clk = 11.9 M cycles in 17.1 ms, i.e. ~697 MHz
# with this project's MAC count (model.py's rule), so times are given at 700 MHz by default. The
# DS-CNN figures (0.81 MAC/clk, 6.4 ms) imply ~1.48 GHz with our 7.65 M MACs: the study must count
# DS-CNN MACs differently (or run a different variant), so only its MAC/clk is comparable there.
DEFAULT_FREQ_MHZ = 700.0
