"""alert-log: Alertmanager's webhook receiver.

Alertmanager POSTs every notification (a group of alerts, webhook payload version 4) to
``/alerts``; each alert becomes one structured log line and one JSON line in
``ALERT_LOG_FILE``, so the history of what fired and resolved survives restarts and can be
grepped, tailed or loaded anywhere. ``GET /alerts`` lists the latest ones.
"""
