	.data
	.word 0x1ffffffff
