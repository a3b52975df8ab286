CREATE TABLE `scheduler_jobs` (
	`seq` integer PRIMARY KEY NOT NULL,
	`project_id` text NOT NULL,
	`job_id` text NOT NULL,
	`client_id` text NOT NULL,
	`session_id` text DEFAULT '' NOT NULL,
	`doc` text NOT NULL
);
--> statement-breakpoint
CREATE UNIQUE INDEX `scheduler_jobs_id` ON `scheduler_jobs` (`project_id`,`job_id`);--> statement-breakpoint
CREATE INDEX `scheduler_jobs_project` ON `scheduler_jobs` (`project_id`);--> statement-breakpoint
CREATE INDEX `scheduler_jobs_client` ON `scheduler_jobs` (`project_id`,`client_id`);--> statement-breakpoint
CREATE INDEX `scheduler_jobs_session` ON `scheduler_jobs` (`project_id`,`session_id`);--> statement-breakpoint
CREATE TABLE `scheduler_sessions` (
	`seq` integer PRIMARY KEY NOT NULL,
	`project_id` text NOT NULL,
	`session_id` text NOT NULL,
	`doc` text NOT NULL
);
--> statement-breakpoint
CREATE UNIQUE INDEX `scheduler_sessions_id` ON `scheduler_sessions` (`project_id`,`session_id`);--> statement-breakpoint
CREATE INDEX `scheduler_sessions_project` ON `scheduler_sessions` (`project_id`);