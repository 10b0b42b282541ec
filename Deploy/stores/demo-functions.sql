-- Session-local helpers shared by the demo seeds: the same customer number gives the same
-- name, email and phone in every store, as in a real company's systems.
CREATE FUNCTION pg_temp.demo_thai(i int) RETURNS boolean LANGUAGE sql IMMUTABLE AS $$ SELECT i % 10 < 7 $$;
CREATE FUNCTION pg_temp.demo_first(i int) RETURNS text LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE WHEN pg_temp.demo_thai(i)
        THEN (ARRAY['สมชาย','สมหญิง','วิชัย','สุดารัตน์','ประเสริฐ','กาญจนา','ธนพล','พิมพ์ชนก','อนุชา','นภัสสร','ณัฐวุฒิ','ศิริพร'])[1 + i % 12]
        ELSE (ARRAY['John','Emma','Michael','Sophie','David','Olivia','James','Hannah','Daniel','Grace'])[1 + i % 10] END
$$;
CREATE FUNCTION pg_temp.demo_last(i int) RETURNS text LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE WHEN pg_temp.demo_thai(i)
        THEN (ARRAY['ใจดี','รักษ์ไทย','ศรีสุข','วงศ์สวัสดิ์','ทองคำ','บุญมา','แสงอรุณ','พรหมมา','สุขเจริญ','มั่นคง'])[1 + (i / 12) % 10]
        ELSE (ARRAY['Smith','Brown','Wilson','Taylor','Clarke','Walker','Wright','Green'])[1 + (i / 10) % 8] END
$$;
CREATE FUNCTION pg_temp.demo_latin(i int) RETURNS text LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE WHEN pg_temp.demo_thai(i)
        THEN (ARRAY['somchai','somying','wichai','sudarat','prasert','kanchana','thanaphon','pimchanok','anucha','naphatsorn','nattawut','siriporn'])[1 + i % 12]
        ELSE lower(pg_temp.demo_first(i)) END
$$;
-- Every 97th customer signed up again with the same address in other capitals.
CREATE FUNCTION pg_temp.demo_email(i int) RETURNS text LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE WHEN i % 97 = 0 THEN upper(pg_temp.demo_latin(i - 1)) || '.' || (i - 1) || '@Example.CO.TH'
                ELSE pg_temp.demo_latin(i) || '.' || i || '@example.co.th' END
$$;
-- Every 50th customer shares a phone with the customer before (a family line).
CREATE FUNCTION pg_temp.demo_phone(i int) RETURNS text LANGUAGE sql IMMUTABLE AS $$
    SELECT '08' || substr(d, 1, 1) || '-' || substr(d, 2, 3) || '-' || substr(d, 5, 4)
      FROM (SELECT lpad((((CASE WHEN i % 50 = 0 THEN i - 1 ELSE i END) * 7919) % 100000000)::text, 8, '0') AS d) AS s
$$;
CREATE FUNCTION pg_temp.demo_national_id(i int) RETURNS text LANGUAGE sql IMMUTABLE AS $$
    SELECT body || ((11 - (SELECT sum(substr(body, k, 1)::int * (14 - k)) FROM generate_series(1, 12) AS k) % 11) % 10)::text
      FROM (SELECT '1' || lpad(((i * 104729) % 100000000000)::text, 11, '0') AS body) AS s
$$;
CREATE FUNCTION pg_temp.demo_customer_id(i int) RETURNS text LANGUAGE sql IMMUTABLE AS $$
    SELECT 'C' || lpad(i::text, 7, '0')
$$;
