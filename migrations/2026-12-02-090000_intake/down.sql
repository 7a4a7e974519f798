DROP TABLE mail_attachments;
DROP TABLE mail_messages;
DROP TABLE calls;
DROP TABLE web_form_submissions;
DROP TABLE web_forms;
