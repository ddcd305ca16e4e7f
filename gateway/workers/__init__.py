"""`serve --workers N`: N gateway processes share the WebSocket port, under a main
process that supervises them (`supervisor`), with what passes between them (`link`),
the restart policy (`policy`) and the merged metrics (`merge`)."""

from gateway.workers.link import Brief, WorkerLink
from gateway.workers.policy import RestartPolicy, Restarts
from gateway.workers.supervisor import WorkerSupervisor

__all__ = ["Brief", "RestartPolicy", "Restarts", "WorkerLink", "WorkerSupervisor"]
