	.data
	.space -4
