	.section .tcdm
	.space 3 * 1024 * 1024
