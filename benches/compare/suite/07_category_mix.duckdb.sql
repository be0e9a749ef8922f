-- GMV per category and its share of the total (see .promodb.sql).
WITH per_category AS (
    SELECT k.category, sum(o.amount) AS gmv
    FROM orders o
    LEFT JOIN skus k ON k.sku_id = o.sku_id
    GROUP BY k.category
)
SELECT category,
       gmv,
       CAST(gmv AS DOUBLE) / NULLIF(CAST(sum(gmv) OVER () AS DOUBLE), 0) AS share
FROM per_category
ORDER BY gmv DESC, category NULLS LAST
