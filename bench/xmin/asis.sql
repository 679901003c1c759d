-- variant "asis": the schema exactly as sandbox--1.1.sql creates it.
SELECT 1;
