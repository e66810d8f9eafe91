//! Delta debugging over a failing sequence: remove chunks of actions, halving the chunk size down
//! to single actions, keeping each removal after which the failure persists, until no single
//! action can go. The check is asynchronous (it runs the candidate on both servers) and bounded
//! by a number of tries, since each one launches servers.

/// The smallest sub-sequence of `items` found for which `still_fails` holds, trying at most
/// `max_tries` candidates. `items` itself is assumed to fail.
pub async fn shrink<T: Clone>(
    items: Vec<T>,
    max_tries: usize,
    mut still_fails: impl AsyncFnMut(&[T]) -> bool,
) -> Vec<T> {
    let mut current = items;
    let mut tries = 0;
    let mut chunk = current.len().div_ceil(2).max(1);
    loop {
        let mut removed_any = false;
        let mut start = 0;
        while start < current.len() {
            if tries >= max_tries {
                return current;
            }
            let end = (start + chunk).min(current.len());
            let candidate: Vec<T> = current[..start]
                .iter()
                .chain(&current[end..])
                .cloned()
                .collect();
            tries += 1;
            if !candidate.is_empty() && still_fails(&candidate).await {
                current = candidate;
                removed_any = true;
            } else {
                start = end;
            }
        }
        if chunk == 1 && !removed_any {
            return current;
        }
        if !removed_any {
            chunk = chunk.div_ceil(2);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn block_on<F: Future>(future: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .map(|rt| rt.block_on(future))
            .unwrap_or_else(|e| panic!("no runtime: {e}"))
    }

    #[test]
    fn reduces_to_the_core_that_fails() {
        // "Fails" when 3 comes somewhere before 17 and 42 is there: the core is [3, 17, 42].
        let items: Vec<u32> = (0..60).collect();
        let mut calls = 0;
        let shrunk = block_on(shrink(items, 10_000, async |candidate: &[u32]| {
            calls += 1;
            let at = |n| candidate.iter().position(|x| *x == n);
            matches!((at(3), at(17)), (Some(a), Some(b)) if a < b) && at(42).is_some()
        }));
        assert_eq!(shrunk, vec![3, 17, 42]);
        assert!(calls < 200, "{calls} tries");
    }

    #[test]
    fn a_single_failing_item_stays() {
        let shrunk = block_on(shrink(vec!['a', 'b', 'c'], 100, async |c: &[char]| {
            c.contains(&'b')
        }));
        assert_eq!(shrunk, vec!['b']);
    }

    #[test]
    fn stops_after_its_tries() {
        let mut calls = 0;
        let shrunk = block_on(shrink(
            (0..100).collect::<Vec<u32>>(),
            5,
            async |_: &[u32]| {
                calls += 1;
                false
            },
        ));
        assert_eq!(calls, 5);
        assert_eq!(shrunk.len(), 100);
    }
}
