-- category_mix: GMV per category (of skus; unknown SKUs or no category form the NULL row)
-- and its share of the total GMV (NULL when the total is 0).
WITH per_category AS (
    SELECT k.category, sum(o.amount) AS gmv
    FROM orders o
    LEFT JOIN skus k ON k.sku_id = o.sku_id
    GROUP BY k.category
)
SELECT category,
       gmv,
       safe_div(gmv, sum(gmv) OVER ()) AS share
FROM per_category
