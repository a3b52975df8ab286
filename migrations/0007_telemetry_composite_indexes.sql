DROP TABLE `telemetry_sample_counts`;--> statement-breakpoint
CREATE INDEX `telemetry_samples_resource_meter` ON `telemetry_samples` (`resource_id`,`meter`,`timestamp`);--> statement-breakpoint
CREATE INDEX `telemetry_samples_project_meter` ON `telemetry_samples` (`project_id`,`meter`,`timestamp`);