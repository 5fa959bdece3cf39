/**
 * The layer of a policy around an inner layer of `LanguageModel`: the inner layer's other services pass
 * through (a `Budget` deep in a stack stays reachable from the program), its `LanguageModel` replaced by the
 * wrapped one.
 */
import type * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as LanguageModel from "../LanguageModel.js"

export const around = <A, E, R, E2, R2>(
  model: Layer.Layer<A | LanguageModel.LanguageModel, E, R>,
  wrapped: Effect.Effect<LanguageModel.Service, E2, R2>
): Layer.Layer<A | LanguageModel.LanguageModel, E | E2, R | Exclude<R2, A | LanguageModel.LanguageModel>> =>
  Layer.effect(LanguageModel.LanguageModel, wrapped).pipe(Layer.provideMerge(model))
