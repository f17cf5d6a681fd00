	.data
	.incbin "inc/exit0.inc", 10, 100000
