DROP TABLE `monitor_counters`;--> statement-breakpoint
DROP TABLE `monitor_metric_counts`;