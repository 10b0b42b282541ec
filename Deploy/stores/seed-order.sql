-- Seeds the order store: about 20 orders per customer (random, 1 to 39), each with items,
-- a payment, an invoice and mostly a shipment.
SELECT setseed(0.2563);
INSERT INTO orders (customer_id, ordered_at, status, shipping_address, total)
SELECT pg_temp.demo_customer_id(i), now() - (random() * 2500) * interval '1 day',
       (ARRAY['delivered','delivered','delivered','shipped','cancelled'])[1 + (random() * 4)::int],
       (1 + i % 300) || ' Bang Khae, Bangkok 10160', round((100 + random() * 9000)::numeric, 2)
  FROM generate_series(1, current_setting('dsr.demo_customers')::int) AS i,
       LATERAL generate_series(1, 1 + (random() * 38)::int + (i * 0)) AS n;

INSERT INTO order_items (order_id, product, quantity, unit_price)
SELECT o.id, (ARRAY['ฟิล์มกรองแสง 3M','Window film 40%','ฟิล์มนิรภัย','Ceramic tint','Installation service'])[1 + (o.id + k) % 5],
       1 + (o.id + k) % 3, round((o.total / 2)::numeric, 2)
  FROM orders AS o, generate_series(1, 1 + (o.id % 3)::int) AS k;

INSERT INTO payments (order_id, method, card_last4, bank_account, amount, paid_at)
SELECT o.id, CASE WHEN o.id % 4 = 0 THEN 'bank_transfer' ELSE 'card' END,
       CASE WHEN o.id % 4 <> 0 THEN lpad((o.id % 10000)::text, 4, '0') END,
       CASE WHEN o.id % 4 = 0 THEN '123-4-' || lpad((o.id % 100000)::text, 5, '0') || '-0' END,
       o.total, o.ordered_at + interval '10 minutes'
  FROM orders AS o;

INSERT INTO invoices (order_id, invoice_no, issued_at, buyer_name, buyer_tax_id, amount, dispute_open)
SELECT o.id, 'INV-' || lpad(o.id::text, 9, '0'), o.ordered_at + interval '1 hour', 'customer ' || o.customer_id,
       NULL, o.total, o.id % 997 = 0
  FROM orders AS o;

INSERT INTO shipments (order_id, carrier, tracking_no, recipient_name, recipient_phone, address, shipped_at)
SELECT o.id, (ARRAY['Kerry','Thailand Post','Flash'])[1 + o.id % 3], 'TH' || lpad(o.id::text, 11, '0'),
       'customer ' || o.customer_id, NULL, o.shipping_address, o.ordered_at + interval '1 day'
  FROM orders AS o WHERE o.status <> 'cancelled';
-- Only this store's tables (see seed-customer.sql).
ANALYZE orders, order_items, payments, invoices, shipments;
