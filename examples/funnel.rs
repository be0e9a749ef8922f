//! cargo run --release --example funnel [-- --scale N]
//!
//! Funnel analysis over a generated promo: users reaching each step of view ->
//! add_to_cart -> checkout -> pay within 30 minutes (`window_funnel`), broken down by
//! first-touch channel, and how long each step takes (`window_funnel_times`: median and
//! p90 seconds from the view, per step).

use promodb::PromoDb;
use promodb_datagen::{PromoConfig, generate};
use promodb_examples::{print_section, scale};

const STEPS: &str = "event_type = 'view', event_type = 'add_to_cart', \
                     event_type = 'checkout', event_type = 'pay'";

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let promo = generate(&PromoConfig::new(scale(500_000)?).with_last_year(false));
    let db = PromoDb::in_memory()?;
    promo.load_into(&db)?;

    print_section(
        &db,
        "Users reaching each step (level >= k), all channels",
        &format!(
            "WITH levels AS (SELECT user_id, window_funnel(INTERVAL '30 minutes', ts, {STEPS}) AS level
                             FROM user_events GROUP BY user_id)
             SELECT count(*) FILTER (WHERE level >= 1) AS viewed,
                    count(*) FILTER (WHERE level >= 2) AS added_to_cart,
                    count(*) FILTER (WHERE level >= 3) AS checked_out,
                    count(*) FILTER (WHERE level >= 4) AS paid
             FROM levels"
        ),
    )
    .await?;

    print_section(
        &db,
        "By first-touch channel (the funnel_by_channel view)",
        "SELECT coalesce(channel, '(none)') AS channel, viewed, added_to_cart, checked_out, paid,
                round(100 * safe_div(added_to_cart, viewed), 1) AS cart_pct,
                round(100 * safe_div(checked_out, added_to_cart), 1) AS checkout_pct,
                round(100 * safe_div(paid, checked_out), 1) AS pay_pct
         FROM funnel_by_channel ORDER BY viewed DESC",
    )
    .await?;

    print_section(
        &db,
        "Seconds from the view to each step, for users who reached it",
        &format!(
            "WITH chains AS (SELECT window_funnel_times(INTERVAL '30 minutes', ts, {STEPS}) AS t
                             FROM user_events GROUP BY user_id),
                  waits AS (SELECT date_part('epoch', t[2]) - date_part('epoch', t[1]) AS to_cart,
                                   date_part('epoch', t[3]) - date_part('epoch', t[1]) AS to_checkout,
                                   date_part('epoch', t[4]) - date_part('epoch', t[1]) AS to_pay
                            FROM chains)
             SELECT 'add_to_cart' AS step, round(median(to_cart), 1) AS median_s,
                    round(approx_percentile_cont(to_cart, 0.9), 1) AS p90_s, count(to_cart) AS users FROM waits
             UNION ALL
             SELECT 'checkout', round(median(to_checkout), 1), round(approx_percentile_cont(to_checkout, 0.9), 1),
                    count(to_checkout) FROM waits
             UNION ALL
             SELECT 'pay', round(median(to_pay), 1), round(approx_percentile_cont(to_pay, 0.9), 1), count(to_pay)
             FROM waits
             ORDER BY users DESC"
        ),
    )
    .await?;
    Ok(())
}
