"""HTTP receivers (webhooks) and the admin API, as Starlette apps."""
