DROP TABLE `telemetry_ingest_marks`;--> statement-breakpoint
DROP TABLE `telemetry_sample_metadata`;--> statement-breakpoint
DROP TABLE `telemetry_samples`;