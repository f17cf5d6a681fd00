	.data
	.incbin "nope.bin"
