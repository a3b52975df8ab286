CREATE TABLE `monitor_builds` (
	`seq` integer PRIMARY KEY NOT NULL,
	`branch` text NOT NULL,
	`build_no` text NOT NULL
);
--> statement-breakpoint
CREATE UNIQUE INDEX `monitor_builds_key` ON `monitor_builds` (`branch`,`build_no`);--> statement-breakpoint
CREATE TABLE `monitor_pipelines` (
	`seq` integer PRIMARY KEY NOT NULL,
	`branch` text NOT NULL
);
--> statement-breakpoint
CREATE UNIQUE INDEX `monitor_pipelines_branch_unique` ON `monitor_pipelines` (`branch`);--> statement-breakpoint
CREATE INDEX `monitor_metrics_component_session` ON `monitor_metrics` (`component`,`session_h`);