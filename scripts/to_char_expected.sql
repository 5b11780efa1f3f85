\pset format unaligned
\pset tuples_only on
\pset fieldsep '\t'
WITH v(t, x) AS (VALUES ('numeric','0'),('numeric','1'),('numeric','-1'),('numeric','7'),('numeric','-42'),('numeric','0.5'),('numeric','-0.5'),('numeric','0.05'),
  ('numeric','1234.5678'),('numeric','-1234.5678'),('numeric','12345678.9'),('numeric','99.995'),('numeric','2.5'),('numeric','-2.5'),('numeric','100'),('numeric','1000000'),('numeric','-0.001'),
  ('int','0'),('int','7'),('int','-42'),('int','12345'),('int','-2147483648'),
  ('float','0.5'),('float','-1234.5678'),('float','12345678.9'),('float','2.5'),('float','0.125'),('float','-0.1')),
f(fmt) AS (VALUES ('999'),('000'),('FM999'),('9'),('9.99'),('0.99'),('FM9.99'),('FM0.99'),('99999.99'),('FM99999.99'),('00000.000'),('9G999D99'),('9,999.9'),
  ('S9999.9'),('9999.9S'),('MI999'),('999MI'),('PL999'),('SG999'),('999PR'),('FM999PR'),('999,999,990.00'),('FM999999990.099'),('999th'),('FM999TH'),
  ('L9999.99'),('9.9999999'),('"n=" 999'),('9.'),('FM9.'),('99.9'),('FM99.9'),('FMS999'),('FM999MI'),('0999'),('9990.99'),('9,999,999'),('FM9,999,999'),
  ('FMSG999'),('FMPL9.9'),('99V'),('.99'),('FM.99'),('x9y9z'),('9 9 9'),('SG0009.90'),('FM0.0'),('99999999999'),('9.99EEEE'))
SELECT t, x, fmt, '[' || CASE t WHEN 'numeric' THEN to_char(x::numeric, fmt) WHEN 'int' THEN to_char(x::int, fmt) ELSE to_char(x::float8, fmt) END || ']'
FROM v, f WHERE fmt NOT IN ('99V');
