	.include "cycle_a.s"
