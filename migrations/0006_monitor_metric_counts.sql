CREATE TABLE `monitor_metric_counts` (
	`scope` text NOT NULL,
	`key` text NOT NULL,
	`n` integer NOT NULL,
	PRIMARY KEY(`scope`, `key`)
);
--> statement-breakpoint
CREATE INDEX `monitor_metrics_component` ON `monitor_metrics` (`component`);