"""Operating tidings in production: backups, health checks, the MCP server, telemetry."""
