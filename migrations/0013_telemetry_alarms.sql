CREATE TABLE `telemetry_alarm_deliveries` (
	`id` text PRIMARY KEY NOT NULL,
	`alarm_id` text NOT NULL,
	`project_id` text NOT NULL,
	`action` text NOT NULL,
	`body` text NOT NULL,
	`attempts` integer NOT NULL,
	`next_attempt_at` integer NOT NULL,
	`created_at` integer NOT NULL
);
--> statement-breakpoint
CREATE INDEX `telemetry_alarm_deliveries_due` ON `telemetry_alarm_deliveries` (`next_attempt_at`);--> statement-breakpoint
CREATE TABLE `telemetry_alarm_history` (
	`seq` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`event_id` text NOT NULL,
	`alarm_id` text NOT NULL,
	`type` text NOT NULL,
	`detail` text NOT NULL,
	`user_id` text,
	`project_id` text,
	`on_behalf_of` text NOT NULL,
	`severity` text,
	`timestamp` integer NOT NULL
);
--> statement-breakpoint
CREATE INDEX `telemetry_alarm_history_alarm` ON `telemetry_alarm_history` (`alarm_id`,`seq`);--> statement-breakpoint
CREATE TABLE `telemetry_alarms` (
	`id` text PRIMARY KEY NOT NULL,
	`project_id` text NOT NULL,
	`user_id` text NOT NULL,
	`name` text NOT NULL,
	`description` text NOT NULL,
	`enabled` integer NOT NULL,
	`state` text NOT NULL,
	`state_reason` text NOT NULL,
	`severity` text NOT NULL,
	`repeat_actions` integer NOT NULL,
	`meter_name` text NOT NULL,
	`period` integer NOT NULL,
	`rule` text NOT NULL,
	`actions` text NOT NULL,
	`time_constraints` text NOT NULL,
	`timestamp` integer NOT NULL,
	`state_timestamp` integer NOT NULL,
	`next_eval_at` integer,
	`version` integer NOT NULL,
	`write_id` text NOT NULL
);
--> statement-breakpoint
CREATE UNIQUE INDEX `telemetry_alarms_project_name` ON `telemetry_alarms` (`project_id`,`name`);--> statement-breakpoint
CREATE INDEX `telemetry_alarms_due` ON `telemetry_alarms` (`next_eval_at`) WHERE next_eval_at is not null;