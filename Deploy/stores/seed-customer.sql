-- Seeds the customer store with current_setting('dsr.demo_customers') customers.
SELECT setseed(0.2562);
-- Every 97th customer is the customer before, signed up a second time (same person, same
-- details, the email in other capitals, a phone of its own): p is the person, i the account.
INSERT INTO customers (id, first_name, last_name, date_of_birth, nationality, national_id, passport_no, address,
                       phone, email, login_provider, guardian_consent, created_at)
SELECT pg_temp.demo_customer_id(i), pg_temp.demo_first(p), pg_temp.demo_last(p),
       -- about 3% are minors (under 20), half of them without a guardian's consent
       CASE WHEN p % 33 = 0 THEN current_date - (365 * 15 + p % 1000) ELSE current_date - (365 * 22 + (p * 37) % 15000) END,
       CASE WHEN pg_temp.demo_thai(p) THEN 'TH' ELSE (ARRAY['GB','US','AU','DE'])[1 + p % 4] END,
       CASE WHEN pg_temp.demo_thai(p) THEN pg_temp.demo_national_id(p) END,
       CASE WHEN NOT pg_temp.demo_thai(p) THEN 'P' || lpad(((p * 31) % 10000000)::text, 7, '0') END,
       CASE WHEN pg_temp.demo_thai(p)
            THEN (1 + p % 300) || '/' || (1 + p % 20) || ' ซอยหมู่บ้านเศรษฐกิจ ' || (1 + p % 60) || ' แขวงบางแคเหนือ เขตบางแค กรุงเทพมหานคร 10160'
            ELSE (1 + p % 300) || ' Sukhumvit Road, Khlong Toei, Bangkok 10110' END,
       pg_temp.demo_phone(i), pg_temp.demo_email(i),
       (ARRAY['facebook','google','password'])[1 + i % 3],
       i % 66 = 0,
       now() - ((i * 13) % 1500) * interval '1 day'
  FROM (SELECT i, CASE WHEN i % 97 = 0 THEN i - 1 ELSE i END AS p
          FROM generate_series(1, current_setting('dsr.demo_customers')::int) AS i) AS accounts;

INSERT INTO identity_documents (customer_id, kind, scan, uploaded_at)
SELECT pg_temp.demo_customer_id(i), CASE WHEN pg_temp.demo_thai(i) THEN 'national_id_card' ELSE 'passport' END,
       decode(md5(i::text) || md5((i + 1)::text), 'hex'), now() - ((i * 7) % 1000) * interval '1 day'
  FROM generate_series(1, current_setting('dsr.demo_customers')::int) AS i
 WHERE i % 4 = 0;

INSERT INTO activity_log (customer_id, ip_address, cookie_id, event, at)
SELECT pg_temp.demo_customer_id(i), ('10.' || (i % 250) || '.' || (n % 250) || '.' || (1 + (i + n) % 250))::inet,
       md5('cookie' || i), (ARRAY['login','view_product','add_to_cart','checkout','logout'])[1 + n % 5],
       now() - ((i + n * 17) % 900) * interval '1 hour'
  FROM generate_series(1, current_setting('dsr.demo_customers')::int) AS i, generate_series(1, 5) AS n;
-- Only this store's tables: a bare ANALYZE also analyses the cluster's shared catalogs
-- (pg_authid, pg_database), and inside the seeding transaction it would hold their locks
-- until commit, so seeds of other databases would queue behind it.
ANALYZE customers, identity_documents, activity_log;
