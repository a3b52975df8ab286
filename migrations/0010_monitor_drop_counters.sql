DROP TABLE `monitor_counters`;--> statement-breakpoint
DROP TABLE `monitor_metric_counts`;--> statement-breakpoint
DROP INDEX `monitor_metrics_component_session`;