"""Message templates: what each notice says, in zh-CN (default) and English."""
