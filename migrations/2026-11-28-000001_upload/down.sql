DROP TABLE upload_notification_recipients;
DROP TABLE upload_notifications;
DROP TABLE upload_code_failures;
DROP TABLE upload_files;
DROP TABLE upload_dropoffs;
