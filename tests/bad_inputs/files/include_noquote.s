	.include nope.inc
