-- Seeds the marketing store: subscriptions, consent records, campaign events, ad audiences.
SELECT setseed(0.2564);
INSERT INTO subscriptions (email, phone, channel, source, subscribed_at, unsubscribed_at)
SELECT pg_temp.demo_email(i), pg_temp.demo_phone(i), (ARRAY['email','sms','line'])[1 + i % 3],
       (ARRAY['signup','facebook_lead','google_ads','shop_counter'])[1 + i % 4],
       now() - ((i * 11) % 1200) * interval '1 day', CASE WHEN i % 9 = 0 THEN now() - interval '30 days' END
  FROM generate_series(1, current_setting('dsr.demo_customers')::int) AS i
 WHERE i % 5 <> 0;

INSERT INTO consents (customer_id, email, purpose, given_at, withdrawn_at, guardian_consent)
SELECT pg_temp.demo_customer_id(i), pg_temp.demo_email(i), p, now() - ((i * 5) % 1200) * interval '1 day',
       CASE WHEN (i + length(p)) % 11 = 0 THEN now() - interval '10 days' END, i % 66 = 0
  FROM generate_series(1, current_setting('dsr.demo_customers')::int) AS i,
       unnest(ARRAY['marketing','analytics']) AS p;

INSERT INTO campaign_events (email, campaign, event, pixel_id, at)
SELECT pg_temp.demo_email(i), 'promo-' || (n % 12), CASE WHEN n % 3 = 0 THEN 'click' ELSE 'open' END,
       'px-' || md5(i::text || n)::text, now() - ((i + n * 29) % 700) * interval '1 day'
  FROM generate_series(1, current_setting('dsr.demo_customers')::int) AS i, generate_series(1, 4) AS n
 WHERE i % 5 <> 0;

INSERT INTO ad_audiences (platform, audience, email, phone, added_at)
SELECT CASE WHEN i % 2 = 0 THEN 'google' ELSE 'facebook' END, 'remarketing-window-film',
       pg_temp.demo_email(i), pg_temp.demo_phone(i), now() - ((i * 3) % 365) * interval '1 day'
  FROM generate_series(1, current_setting('dsr.demo_customers')::int) AS i
 WHERE i % 3 = 0;
-- Only this store's tables (see seed-customer.sql).
ANALYZE subscriptions, consents, campaign_events, ad_audiences, suppressions;
