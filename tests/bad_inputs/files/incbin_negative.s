	.data
	.incbin "inc/exit0.inc", -1
