// @ts-check
import * as effectEslint from "@effect/eslint-plugin"
import js from "@eslint/js"
import { defineConfig } from "eslint/config"
import tseslint from "typescript-eslint"

/**
 * Formatting is enforced through `@effect/dprint` with the same settings as the
 * Effect monorepo; `npm run lint:fix` rewrites files into that style.
 */
const dprintConfig = {
  indentWidth: 2,
  lineWidth: 120,
  semiColons: "asi",
  quoteStyle: "alwaysDouble",
  trailingCommas: "never",
  operatorPosition: "maintain",
  "arrowFunction.useParentheses": "force"
}

export default defineConfig(
  {
    ignores: ["dist/", "node_modules/", "coverage/", "**/*.d.ts"]
  },
  {
    files: ["**/*.{ts,mts,cts,js,mjs,cjs}"]
  },
  js.configs.recommended,
  tseslint.configs.recommended,
  // registers the `@effect` plugin, enables `@effect/dprint` and turns off core
  // formatting rules that would conflict with it
  effectEslint.configs.dprint,
  {
    languageOptions: {
      ecmaVersion: "latest",
      sourceType: "module"
    },
    linterOptions: {
      reportUnusedDisableDirectives: "error"
    },
    rules: {
      "@effect/dprint": ["error", { config: dprintConfig }],

      // TypeScript already reports these (noFallthroughCasesInSwitch etc.)
      "no-fallthrough": "off",
      "no-irregular-whitespace": "off",
      // `Effect.gen(function*() { ... })` without a `yield*` is legitimate
      "require-yield": "off",
      "prefer-rest-params": "off",
      "prefer-spread": "off",
      "object-shorthand": "error",
      "no-restricted-syntax": [
        "error",
        {
          selector: "CallExpression[callee.property.name='push'] > SpreadElement.arguments",
          message: "Do not use spread arguments in Array.push"
        }
      ],

      "@typescript-eslint/array-type": ["warn", { default: "generic", readonly: "generic" }],
      "@typescript-eslint/consistent-type-imports": "warn",
      "@typescript-eslint/no-explicit-any": "error",
      "@typescript-eslint/no-unused-vars": [
        "error",
        {
          argsIgnorePattern: "^_",
          varsIgnorePattern: "^_",
          caughtErrorsIgnorePattern: "^_",
          destructuredArrayIgnorePattern: "^_"
        }
      ],
      // Effect-style code relies on these patterns (branded `{}` types, namespaces
      // merged with interfaces, `@ts-expect-error` in type-level tests)
      "@typescript-eslint/no-empty-object-type": "off",
      "@typescript-eslint/no-namespace": "off",
      "@typescript-eslint/ban-ts-comment": "off"
    }
  },
  {
    // library code must not write to the console
    files: ["src/**/*"],
    rules: {
      "no-console": "error"
    }
  },
  {
    files: ["test/**/*"],
    rules: {
      "@typescript-eslint/no-explicit-any": "off"
    }
  }
)
